import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

/** A CLI sub-command: parses its own arguments, returns the process exit code (-1: keep running). */
export interface Command {
  /** How it is invoked, for the command list (`keys rotate`); the command's name when absent. */
  synopsis?: string;
  summary: string;
  usage: string;
  /** The usage of a sub-command named by `args`, when it has its own (`keys reencrypt`). */
  helpFor?(args: string[]): string | undefined;
  run(args: string[]): Promise<number>;
}

/** Bad command-line arguments: printed with the command's usage, exit code 2. */
export class CliUsageError extends Error {}

/**
 * A command failed for a reason the operator can act on: printed as one line (no stack trace),
 * exit code 1. The message must never contain a secret (password, key, database URL).
 */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'CliError';
  }
}

/** parseArgs in strict mode, with its errors turned into CliUsageError. */
export function parseCommandArgs<T extends Options>(
  args: string[],
  options: T,
): ReturnType<
  typeof parseArgs<{ args: string[]; options: T; allowPositionals: true; strict: true }>
> {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new CliUsageError((error as Error).message);
  }
}
