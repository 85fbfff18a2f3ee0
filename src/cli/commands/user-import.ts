import { CliError, CliUsageError } from '../args.js';
import type { CliIo } from '../io.js';

/** Largest import file: about 300 000 accounts of typical length. */
const MAX_IMPORT_BYTES = 64 * 1024 * 1024;
/** Problems printed before the rest are only counted. */
const MAX_LISTED_PROBLEMS = 50;

export interface UserImportOptions {
  file: string | undefined;
  configFile: string | undefined;
  skipExisting: boolean;
  dryRun: boolean;
}

/**
 * `bulwark user import`: accounts from another system, with their password hashes. Everything is
 * checked before anything is written (each line, the roles, addresses already registered), so a
 * file with a problem imports nothing; then the accounts are created one by one, each with its
 * `user.created` event (via import). A failure while writing (an address registered meanwhile, the
 * database gone) stops there: the lines before it are imported, and a second run with
 * --skip-existing finishes the file.
 */
export async function importUsers(options: UserImportOptions, io: CliIo): Promise<number> {
  const { readFileBounded, readStdinBounded } = await import('../read-input.js');
  let input: Buffer;
  if (options.file !== undefined) {
    input = await readFileBounded(io, options.file, MAX_IMPORT_BYTES, 'import');
  } else if (io.stdin.isTTY) {
    throw new CliUsageError('give the accounts with --file FILE, or pipe the file in');
  } else {
    input = await readStdinBounded(io, MAX_IMPORT_BYTES);
  }
  const { loadCliContext, withServices } = await import('../context.js');
  const { parseUserImport } = await import('../../users/user-import.js');
  const { Permissions } = await import('../../access/permissions.js');
  const context = loadCliContext(options.configFile, io);
  // The roles as the service reads them, before its database is opened.
  const permissions = new Permissions(context.config.access.roles);
  const { users, problems } = parseUserImport(input.toString('utf8'), {
    isRole: (role) => permissions.isRole(role),
    roles: () => permissions.roles(),
    defaultRole: context.config.access.defaultRole,
  });
  const where = options.file ?? 'standard input';

  return withServices(context, async (services) => {
    // Addresses already registered: a problem, or skipped on request (a second run).
    const fresh: typeof users = [];
    let skipped = 0;
    for (const user of users) {
      if ((await services.usersRepo.findByEmail(user.email)) === undefined) fresh.push(user);
      else if (options.skipExisting) skipped++;
      else
        problems.push({
          line: user.line,
          message: `${user.email} has an account already (--skip-existing skips such lines)`,
        });
    }
    if (problems.length > 0) {
      problems.sort((a, b) => a.line - b.line);
      for (const { line, message } of problems.slice(0, MAX_LISTED_PROBLEMS))
        io.stderr.write(`${where}:${line}: ${message}\n`);
      if (problems.length > MAX_LISTED_PROBLEMS)
        io.stderr.write(`… and ${problems.length - MAX_LISTED_PROBLEMS} more problems\n`);
      io.stderr.write(
        `bulwark user import: nothing imported (${problems.length} ${problems.length === 1 ? 'line has a problem' : 'lines have problems'})\n`,
      );
      return 1;
    }
    const summary = (created: number): string =>
      `${created} ${created === 1 ? 'user' : 'users'}${skipped > 0 ? `, ${skipped} skipped (already registered)` : ''}`;
    if (options.dryRun) {
      io.stdout.write(`dry run: every line is valid; would import ${summary(fresh.length)}\n`);
      return 0;
    }
    let created = 0;
    for (const user of fresh) {
      try {
        // No request behind it: the user agent marks the CLI as the origin in the audit trail.
        await services.users.createImported(user, { userAgent: 'bulwark-cli' });
      } catch (error) {
        io.stdout.write(`imported ${summary(created)}\n`);
        const reason =
          (error as { code?: unknown }).code === 'email_taken'
            ? `${user.email} was registered meanwhile`
            : 'the account could not be written';
        throw new CliError(
          `${where}:${user.line}: ${reason}; the lines before it are imported. Fix: run the same import again with --skip-existing`,
          1,
          { cause: error },
        );
      }
      created++;
    }
    io.stdout.write(`imported ${summary(created)}\n`);
    return 0;
  });
}
