import { closeSync, openSync, readSync } from 'node:fs';

/**
 * The most any file named in the settings may hold (a config file, a PEM certificate chain or CA
 * bundle, a key file): the largest real ones are a few hundred KiB (a system CA bundle).
 */
export const SETTINGS_FILE_MAX_BYTES = 1024 * 1024;

/** A file longer than the caller's bound; `code` as Node's errors have one. */
export class FileTooLargeError extends Error {
  readonly code = 'EFBIG';
  constructor(readonly maxBytes: number) {
    super(`larger than ${formatBytes(maxBytes)}`);
    this.name = 'FileTooLargeError';
  }
}

function formatBytes(bytes: number): string {
  if (bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`;
  if (bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} bytes`;
}

/**
 * Reads an open file to its end, refusing one longer than `maxBytes`. readFileSync trusts the
 * size the file reports: a device such as /dev/zero (a slip in a path setting) reports none and
 * never ends, so it would read until memory runs out, at start-up, with a SIGTERM unanswered.
 * Pipes (`--config <(decrypt …)`) still read, up to the bound.
 * @throws FileTooLargeError past `maxBytes`; Node's own errors (EISDIR …) as they come
 */
export function readDescriptorBoundedSync(fd: number, maxBytes: number): Buffer {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    // One byte past the bound tells "exactly maxBytes" from "more".
    const chunk = Buffer.allocUnsafe(Math.min(64 * 1024, maxBytes + 1 - total));
    const read = readSync(fd, chunk, 0, chunk.length, null);
    if (read === 0) return Buffer.concat(chunks, total);
    total += read;
    if (total > maxBytes) throw new FileTooLargeError(maxBytes);
    chunks.push(read === chunk.length ? chunk : chunk.subarray(0, read));
  }
}

/** readDescriptorBoundedSync on the file at `path`. */
export function readFileBoundedSync(path: string, maxBytes: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    return readDescriptorBoundedSync(fd, maxBytes);
  } finally {
    closeSync(fd);
  }
}

/**
 * Why a file could not be read, for a one-line message: Node's error code (ENOENT, EACCES …),
 * or the bound a file went past.
 */
export function readFailure(error: unknown, fallback = 'unreadable'): string {
  if (error instanceof FileTooLargeError) return error.message;
  return (error as NodeJS.ErrnoException).code ?? fallback;
}
