import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { CliIo } from './io.js';
import { lenientTokens, parseErrorMessage } from './parse-error-message.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** A CLI sub-command: parses its own arguments, returns the process exit code (-1: keep running). */
export interface Command {
  /** How it is invoked, for the command list (`keys rotate`); the command's name when absent. */
  synopsis?: string;
  summary: string;
  /** Subcommands listed on their own lines in `bulwark --help`, instead of synopsis and summary. */
  subcommands?: readonly { synopsis: string; summary: string }[];
  usage: string;
  /** The usage of a sub-command named by `args`, when it has its own (`keys reencrypt`). */
  helpFor?(args: string[]): string | undefined;
  /**
   * With `subcommands`: every option they take, so that the subcommand named is found among the
   * arguments (for a usage error's synopsis) without an option's value being taken for it.
   */
  options?: Options;
  /** Runs with the streams, environment and directory of `io`, never the process's own. */
  run(args: string[], io: CliIo): Promise<number>;
}

/**
 * Bad command-line arguments: printed with the command's synopsis (its "Usage:" lines, not the
 * whole usage, so the error stays on screen), exit code 2.
 */
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

/**
 * parseArgs in strict mode, with its errors turned into CliUsageError. Node's messages are long
 * ("To specify a positional argument starting with a '-', place it at the end of the command
 * after '--' …") and describe its own API ("<value>' argument missing"): the operator gets a
 * short one of ours that names the option as typed.
 */
export function parseCommandArgs<T extends Options>(
  args: string[],
  options: T,
): ReturnType<
  typeof parseArgs<{ args: string[]; options: T; allowPositionals: true; strict: true }>
> {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new CliUsageError(parseErrorMessage(error as Error, args, options), { cause: error });
  }
}

/**
 * Finds a command's subcommand (`keys rotate-master`) wherever it stands among the options, so
 * `keys --config FILE rotate-master` works like `keys rotate-master --config FILE`. `options`
 * are every option the subcommands take, so that an option's value is never taken for the
 * subcommand. Returns the subcommand and the arguments without it.
 */
export function splitSubcommand(
  args: string[],
  options: Options,
): { sub: string | undefined; rest: string[] } {
  const first = lenientTokens(args, options).find((token) => token.kind === 'positional');
  if (first === undefined) return { sub: undefined, rest: args };
  return { sub: first.value, rest: args.filter((_, i) => i !== first.index) };
}
