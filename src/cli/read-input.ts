import { createReadStream } from 'node:fs';
import { CliError } from './args.js';
import { pathIn, type CliIo } from './io.js';

const kib = (bytes: number): string => `${bytes / 1024} KiB`;

/**
 * A file named on the command line (a token, a key, a CA), read as a stream up to one byte past
 * `maxBytes`, never whole: it may be a device that never ends (/dev/zero) or a multi-gigabyte log
 * named by mistake. `what` names it in the errors ("token", "JWKS"). A relative `file` is read
 * from `io.cwd`.
 */
export async function readFileBounded(
  io: CliIo,
  file: string,
  maxBytes: number,
  what: string,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  try {
    for await (const chunk of createReadStream(pathIn(io, file), { end: maxBytes })) {
      chunks.push(chunk as Buffer);
      length += (chunk as Buffer).length;
    }
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    throw new CliError(`cannot read the ${what} file ${file}: ${code ?? message}`);
  }
  if (length > maxBytes)
    throw new CliError(`the ${what} file ${file} is larger than ${kib(maxBytes)}`);
  return Buffer.concat(chunks);
}

/** Standard input (of `io`) up to `maxBytes`; more is refused without reading on. */
export async function readStdinBounded(io: CliIo, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of io.stdin) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    chunks.push(buffer);
    length += buffer.length;
    if (length > maxBytes) throw new CliError(`standard input is larger than ${kib(maxBytes)}`);
  }
  return Buffer.concat(chunks);
}
