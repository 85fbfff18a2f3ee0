import { ConfigError } from '../errors.js';
import { CliError, CliUsageError, type Command } from './args.js';
import { processIo, type CliIo } from './io.js';
import { terminalText } from '../tools/terminal-text.js';
import { usageErrorHint } from './usage-synopsis.js';
import { devCert } from './commands/dev-cert.js';
import { doctor } from './commands/doctor.js';
import { keys } from './commands/keys.js';
import { migrate } from './commands/migrate.js';
import { auditLog } from './commands/audit-log.js';
import { audit } from './commands/audit.js';
import { jwt } from './commands/jwt.js';
import { tools } from './commands/tools.js';
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
    audit,
    tools,
    jwt,
    'dev-cert': devCert,
    doctor,
  },
);

function help(): string {
  const lines = Object.entries(commands).flatMap(([name, c]) =>
    (c.subcommands ?? [{ synopsis: c.synopsis ?? name, summary: c.summary }]).map(
      ({ synopsis, summary }) => `  ${synopsis.padEnd(20)}${summary}`,
    ),
  );
  return [
    'Usage: bulwark [command] [options]',
    '',
    'Commands:',
    ...lines,
    '',
    'Options:',
    '  --config FILE       JSON config file (environment variables override it); before or after',
    '                      the command',
    '  -h, --help          show help (bulwark <command> --help, or bulwark help <command>)',
    '  -v, --version       print the version',
    '',
    'With no command, bulwark serves. Settings: docs/config.md',
  ].join('\n');
}

/**
 * Splits argv into the command and its arguments. Options may come before the command
 * (`bulwark --config FILE doctor`): they are handed to the command like its own. No command
 * after them means `serve`.
 */
function splitCommand(argv: string[]): { name: string; args: string[] } {
  const leading: string[] = [];
  let i = 0;
  while (i < argv.length && argv[i]!.startsWith('-')) {
    const arg = argv[i]!;
    leading.push(arg);
    i += 1;
    // The one global option with a separate value: the file name is not the command.
    if (arg === '--config' && i < argv.length) leading.push(argv[i++]!);
  }
  const name = argv[i];
  if (name === undefined) return { name: 'serve', args: leading };
  return { name, args: [...leading, ...argv.slice(i + 1)] };
}

/**
 * Runs the CLI with `argv` (without node and script) and returns the exit code. `io` is where it
 * reads and writes, and the environment it reads: the process's own unless given.
 */
export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  const [first, ...rest] = argv;
  if (first === '-h' || first === '--help' || first === 'help') {
    // `bulwark help keys reencrypt`: that command's (or subcommand's) usage.
    const [topic, ...sub] = first === 'help' ? rest : [];
    const command = topic === undefined ? undefined : commands[topic];
    if (topic !== undefined && command === undefined) {
      io.stderr.write(`bulwark: unknown command "${topic}"\n\n${help()}\n`);
      return 2;
    }
    io.stdout.write(
      `${command === undefined ? help() : (command.helpFor?.(sub) ?? command.usage)}\n`,
    );
    return 0;
  }
  if (first === '-v' || first === '--version') {
    const { version } = await import('../version.js');
    io.stdout.write(`${version}\n`);
    return 0;
  }
  const { name, args } = splitCommand(argv);
  // `bulwark --config FILE --help`: no command named, so the general help.
  if (
    name === 'serve' &&
    !argv.includes('serve') &&
    (args.includes('-h') || args.includes('--help'))
  ) {
    io.stdout.write(`${help()}\n`);
    return 0;
  }
  const command = commands[name];
  if (!command) {
    io.stderr.write(`bulwark: unknown command "${name}"\n\n${help()}\n`);
    return 2;
  }
  const usage = command.helpFor?.(args) ?? command.usage;
  if (args.includes('--help') || args.includes('-h')) {
    io.stdout.write(`${usage}\n`);
    return 0;
  }
  try {
    return await command.run(args, io);
  } catch (error) {
    if (error instanceof ConfigError) {
      // Operators need the setting and the fix, not a stack trace.
      io.stderr.write(`bulwark: ${error.message}\n`);
      return 78; // EX_CONFIG
    }
    if (error instanceof CliError) {
      // Messages may quote what a scanned server or a token chose: never raw control characters.
      io.stderr.write(`bulwark ${name}: ${terminalText(error.message)}\n`);
      return error.exitCode;
    }
    if (error instanceof CliUsageError) {
      // The synopsis only: the whole usage would scroll the error off the screen.
      const hint = usageErrorHint(name, command, args, usage);
      io.stderr.write(`bulwark ${name}: ${terminalText(error.message)}\n\n${hint}\n`);
      return 2;
    }
    throw error;
  }
}

/**
 * Whether `argv` runs the server, which takes over SIGTERM, SIGINT and SIGHUP as it starts (and
 * logs a stop asked for during start-up). The launcher holds a signal that comes while the CLI
 * loads only for it: any other command keeps the default, so it ends at once on a signal, even
 * in the middle of synchronous work.
 */
export function takesOverSignals(argv: string[]): boolean {
  const first = argv[0];
  if (first === '-h' || first === '--help' || first === 'help') return false;
  if (first === '-v' || first === '--version') return false;
  return splitCommand(argv).name === 'serve';
}
