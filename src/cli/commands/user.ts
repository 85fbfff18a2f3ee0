import { isAppError, type AppError, type FieldError } from '../../errors.js';
import { CliError, CliUsageError, parseCommandArgs, type Command } from '../args.js';
import type { Config } from '../../config/index.js';
import type { CliIo } from '../io.js';

const USAGE = [
  'Usage: bulwark user create --email EMAIL [--name NAME] [--role ROLE] [--password-stdin]',
  '                           [--config FILE]',
  '       bulwark user set-password --email EMAIL [--password-stdin] [--config FILE]',
  '       bulwark user mfa-reset --email EMAIL [--config FILE]',
  '       bulwark user import [--file FILE] [--skip-existing] [--dry-run] [--config FILE]',
  '',
  'Creates a user, typically the first administrator (--role admin), with the same password',
  "policy and normalisation as registration. Prints the new user's id, email and role.",
  '',
  'set-password gives a user who forgot their password a new one, with the same policy. Every',
  'session of the user ends: their refresh tokens stop working at once, and running servers',
  'refuse their access tokens within 30 s (event password.reset, via cli). MFA stays on if it',
  'was: the reset replaces the password only. Check who is asking before you run it.',
  '',
  'The password is asked twice on the terminal (not echoed), or with --password-stdin read from',
  'the first line of standard input. It is never taken from the command line: arguments are',
  'visible to every local user in `ps` and stay in shell history.',
  '',
  'mfa-reset turns MFA off for a user who lost both the authenticator and the recovery codes',
  '(their authenticator and codes are deleted; event mfa.disabled, by admin_reset). Check who is',
  'asking before you run it: it leaves the password as the only factor.',
  '',
  'import creates accounts moved from another system, from JSON Lines (--file, or standard',
  'input), one object per line:',
  '  {"email": "ann@example.com", "name": "Ann", "role": "user",',
  '   "passwordHash": "$2b$12$...", "emailVerified": true}',
  'Only email is required (name: the part before the @; role: access.defaultRole). passwordHash',
  'is the old bcrypt ($2a$/$2b$/$2y$) or argon2 hash, replaced by argon2id at the first login;',
  'without it the account has no password until a reset or an OpenID Connect sign-in. Every',
  'line is checked first (as registration checks it, plus roles and hash formats): one problem',
  'and nothing is imported (exit 1). An address with an account already is a problem, or skipped',
  'with --skip-existing. --dry-run checks and counts, and writes nothing.',
  '',
  'Options:',
  '  --email EMAIL      sign-in email (required)',
  '  --name NAME        display name (default: the part of the email before the @; create only)',
  '  --role ROLE        a role of access.roles (default: access.defaultRole; create only)',
  '  --password-stdin   read the password from standard input instead of the terminal',
  '                     (when standard input is a terminal, it is asked for without echo)',
  '  --file FILE        JSON Lines of the accounts to import (default: standard input)',
  '  --skip-existing    import: skip lines whose address has an account already',
  '  --dry-run          import: check every line and count, write nothing',
  '  --config FILE      JSON config file (environment variables override it)',
  '',
  'Examples:',
  '  printf %s "$ADMIN_PASSWORD" | bulwark user create --email admin@example.com --role admin --password-stdin',
  '  bulwark user set-password --email someone@example.com',
  '  bulwark user mfa-reset --email someone@example.com',
  '  bulwark user import --file users.jsonl --dry-run',
].join('\n');

/** True for `--password` and `--password=...`, the flag this command refuses on purpose. */
function isPasswordFlag(arg: string): boolean {
  return arg === '--password' || arg.startsWith('--password=');
}

const FIELD_OPTION: Record<string, string> = Object.assign(Object.create(null) as object, {
  '/body/email': '--email',
  '/body/name': '--name',
  '/body/role': '--role',
});

/** What parseArgs reads: every subcommand's options, each checked against its subcommand after. */
const PARSE_OPTIONS = {
  config: { type: 'string' },
  email: { type: 'string' },
  name: { type: 'string' },
  role: { type: 'string' },
  'password-stdin': { type: 'boolean' },
  file: { type: 'string' },
  'skip-existing': { type: 'boolean' },
  'dry-run': { type: 'boolean' },
} as const;

type Subcommand = 'create' | 'set-password' | 'mfa-reset' | 'import';
/** Every option but --config, which all subcommands take. */
type SubcommandOption = Exclude<keyof typeof PARSE_OPTIONS, 'config'>;

/** The subcommands, and the options each takes besides --config. */
const SUBCOMMANDS: Readonly<Record<Subcommand, readonly SubcommandOption[]>> = {
  create: ['email', 'name', 'role', 'password-stdin'],
  'set-password': ['email', 'password-stdin'],
  'mfa-reset': ['email'],
  import: ['file', 'skip-existing', 'dry-run'],
};
const OPTIONS = Object.keys(PARSE_OPTIONS).filter(
  (option): option is SubcommandOption => option !== 'config',
);

function isSubcommand(name: string | undefined): name is Subcommand {
  return name !== undefined && Object.hasOwn(SUBCOMMANDS, name);
}

/** The service's refusal as one line for the operator. */
function describeRefusal(error: AppError, role = ''): string {
  const errors: FieldError[] = error.errors ?? [];
  switch (error.code) {
    case 'weak_password':
      return `weak password: ${errors.map((e) => e.message).join('; ') || error.detail}`;
    case 'email_taken':
      return 'a user with this email already exists';
    case 'validation_failed':
      return (
        errors
          .map((e) =>
            e.path === '/body/role'
              ? `unknown role ${JSON.stringify(role)}: ${e.message}`
              : `invalid ${FIELD_OPTION[e.path] ?? e.path}: ${e.message}`,
          )
          .join('; ') || error.detail
      );
    default:
      return error.detail;
  }
}

export const user: Command = {
  synopsis: 'user create',
  subcommands: [
    {
      synopsis: 'user create',
      summary: 'create a user (the first admin: --role admin); password from the TTY or stdin',
    },
    {
      synopsis: 'user set-password',
      summary: "set a user's new password (forgotten); ends every session, MFA stays",
    },
    { synopsis: 'user mfa-reset', summary: 'turn MFA off for a user who lost the authenticator' },
    {
      synopsis: 'user import',
      summary: 'create accounts from another system, with their bcrypt or argon2 hashes',
    },
  ],
  summary: "create or import users, set one's password, or turn MFA off for one",
  usage: USAGE,
  options: PARSE_OPTIONS,
  async run(args, io) {
    // Checked before parsing so the refusal explains itself instead of "unknown option".
    if (args.some(isPasswordFlag)) {
      throw new CliUsageError(
        '--password is not accepted: a password in the arguments is visible to every local user in `ps` and is kept in shell history. Pipe it in with --password-stdin, or leave both out to be asked on the terminal.',
      );
    }
    const { values, positionals } = parseCommandArgs(args, PARSE_OPTIONS);
    const [sub, ...extra] = positionals;
    if (!isSubcommand(sub)) {
      throw new CliUsageError(
        sub === undefined
          ? 'missing subcommand: create, set-password, mfa-reset or import'
          : 'unknown subcommand (expected: create, set-password, mfa-reset or import)',
      );
    }
    // Not echoed: a stray argument here is often a password typed after its flag.
    if (extra.length > 0) throw new CliUsageError(`user ${sub} takes no positional arguments`);
    for (const option of OPTIONS) {
      if (values[option] !== undefined && !SUBCOMMANDS[sub].includes(option))
        throw new CliUsageError(`--${option} is not an option of user ${sub}`);
    }
    if (sub === 'import') {
      const { importUsers } = await import('./user-import.js');
      return importUsers(
        {
          file: values.file,
          configFile: values.config,
          skipExisting: values['skip-existing'] === true,
          dryRun: values['dry-run'] === true,
        },
        io,
      );
    }
    const email = values.email;
    if (email === undefined) throw new CliUsageError('--email is required');
    if (sub === 'mfa-reset') return mfaReset(email, values.config, io);
    const fromStdin = values['password-stdin'] === true;
    if (!fromStdin && !io.stdin.isTTY) {
      throw new CliUsageError(
        'standard input is not a terminal, so the password cannot be asked for: pipe it in and add --password-stdin',
      );
    }
    if (sub === 'set-password') return setPassword(email, values.config, fromStdin, io);

    const { loadCliContext, withServices } = await import('../context.js');
    const context = loadCliContext(values.config, io);
    const role = values.role ?? context.config.access.defaultRole;
    const name = values.name ?? email.trim().split('@')[0] ?? '';
    const created = await withServices(context, async (services) => {
      const password = await readNewPassword(fromStdin, io);
      try {
        return services.users.view(
          await services.users.create(
            { email, name, role, password },
            // No request behind it: the user agent marks the CLI as the origin in the audit trail.
            { actorId: null, userAgent: 'bulwark-cli', via: 'cli' },
          ),
        );
      } catch (error) {
        if (isAppError(error))
          throw new CliError(describeRefusal(error, role), 1, { cause: error });
        throw error;
      }
    });
    io.stdout.write(`id: ${created.id}\nemail: ${created.email}\nrole: ${created.role}\n`);
    return 0;
  },
};

/**
 * No account with this address. Often the command read another database than the service's: a
 * relative database.sqlitePath starts from the working directory, so it names the one it read.
 */
function noSuchUser(config: Config): CliError {
  const where =
    config.database.url === undefined
      ? `the SQLite database ${config.database.sqlitePath}`
      : 'the PostgreSQL database (DATABASE_URL)';
  return new CliError(
    `no user with this email in ${where}. Fix: check the address, and run the command with the service's settings (environment, --config) from its working directory.`,
    1,
  );
}

/** The new password: the first line of standard input, or asked twice on the terminal. */
async function readNewPassword(fromStdin: boolean, io: CliIo): Promise<string> {
  const { promptNewPassword, readPasswordLine } = await import('../read-password.js');
  // --password-stdin on a terminal would echo what is typed: ask without echo instead.
  return fromStdin && !io.stdin.isTTY ? readPasswordLine(io.stdin) : promptNewPassword(io);
}

/**
 * `user set-password`: a new password for the user with this email, every session of theirs
 * ended; exit 1 when there is no such user or the password is refused.
 */
async function setPassword(
  email: string,
  configFile: string | undefined,
  fromStdin: boolean,
  io: CliIo,
): Promise<number> {
  const { loadCliContext, withServices } = await import('../context.js');
  const { canonicalEmail } = await import('../../users/normalize.js');
  const context = loadCliContext(configFile, io);
  const address = canonicalEmail(email);
  await withServices(
    context,
    async (services) => {
      // Looked up first: no one is asked for a password for an account that does not exist.
      const row = await services.usersRepo.findByEmail(address);
      if (!row) throw noSuchUser(context.config);
      const password = await readNewPassword(fromStdin, io);
      try {
        await services.users.setPassword(
          row.id,
          password,
          // No request behind it: the user agent marks the CLI as the origin in the audit trail.
          { userAgent: 'bulwark-cli' },
          {
            details: { via: 'cli' },
            // With e-mail configured the owner is told, as after a reset by link; sent before exit.
            afterWrite: () => services.accountEmail?.notifyPasswordChanged(row),
          },
        );
      } catch (error) {
        if (isAppError(error)) throw new CliError(describeRefusal(error), 1, { cause: error });
        throw error;
      }
    },
    { existing: true },
  );
  io.stdout.write(`password set for ${address}; every session of the user has ended\n`);
  return 0;
}

/** `user mfa-reset`: MFA off for the user with this email; exit 1 when there is no such user. */
async function mfaReset(email: string, configFile: string | undefined, io: CliIo): Promise<number> {
  const { loadCliContext, withServices } = await import('../context.js');
  const { canonicalEmail } = await import('../../users/normalize.js');
  const context = loadCliContext(configFile, io);
  const wasOn = await withServices(
    context,
    async (services) => {
      const row = await services.usersRepo.findByEmail(canonicalEmail(email));
      if (!row) throw noSuchUser(context.config);
      return services.mfa.reset(row.id, { actorId: null, userAgent: 'bulwark-cli' });
    },
    { existing: true },
  );
  io.stdout.write(
    wasOn
      ? `MFA turned off for ${canonicalEmail(email)}\n`
      : `MFA was not on for ${canonicalEmail(email)}\n`,
  );
  return 0;
}
