import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

/** A CLI sub-command: parses its own arguments, returns the process exit code (-1: keep running). */
export interface Command {
  summary: string;
  usage: string;
  run(args: string[]): Promise<number>;
}

/** Bad command-line arguments: printed with the command's usage, exit code 2. */
export class CliUsageError extends Error {}

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
