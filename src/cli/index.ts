import { ConfigError } from '../errors.js';
import { CliError, CliUsageError, type Command } from './args.js';
import { devCert } from './commands/dev-cert.js';
import { doctor } from './commands/doctor.js';
import { keys } from './commands/keys.js';
import { migrate } from './commands/migrate.js';
import { auditLog } from './commands/audit-log.js';
import { serve } from './commands/serve.js';
import { user } from './commands/user.js';

const commands: Record<string, Command> = Object.assign(
  Object.create(null) as Record<string, Command>,
  {
    serve,
    migrate,
    keys,
    user,
    'audit-log': auditLog,
    'dev-cert': devCert,
    doctor,
  },
);

function help(): string {
  const lines = Object.entries(commands).map(
    ([name, c]) => `  ${(c.synopsis ?? name).padEnd(18)}${c.summary}`,
  );
  return [
    'Usage: bulwark [command] [options]',
    '',
    'Commands:',
    ...lines,
    '',
    'Options:',
    '  --config FILE     JSON config file (environment variables override it)',
    '  -h, --help        show help (bulwark <command> --help for a command)',
    '  -v, --version     print the version',
    '',
    'With no command, bulwark serves. Settings: docs/config.md',
  ].join('\n');
}

/** Runs the CLI with `argv` (without node and script) and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === '-h' || first === '--help' || first === 'help') {
    process.stdout.write(`${help()}\n`);
    return 0;
  }
  if (first === '-v' || first === '--version') {
    const { version } = await import('../version.js');
    process.stdout.write(`${version}\n`);
    return 0;
  }
  const name = first === undefined || first.startsWith('-') ? 'serve' : first;
  const args = name === first ? rest : argv;
  const command = commands[name];
  if (!command) {
    process.stderr.write(`bulwark: unknown command "${name}"\n\n${help()}\n`);
    return 2;
  }
  const usage = command.helpFor?.(args) ?? command.usage;
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  try {
    return await command.run(args);
  } catch (error) {
    if (error instanceof ConfigError) {
      // Operators need the setting and the fix, not a stack trace.
      process.stderr.write(`bulwark: ${error.message}\n`);
      return 78; // EX_CONFIG
    }
    if (error instanceof CliError) {
      process.stderr.write(`bulwark ${name}: ${error.message}\n`);
      return error.exitCode;
    }
    if (error instanceof CliUsageError) {
      process.stderr.write(`bulwark ${name}: ${error.message}\n\n${usage}\n`);
      return 2;
    }
    throw error;
  }
}
