import { mkdirSync, statSync } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

/*
 * `mkdir -p` that fails instead of spinning. Node's own `{ recursive: true }` (20 to 24) steps
 * back to the parent on ENOENT and forward again when the parent exists, with no check that the
 * retry can do better: where a directory exists but mkdir below it still answers ENOENT (any path
 * under /proc), it loops at 100 % CPU forever. Synchronously that freezes the process, and a
 * SIGTERM caught by a start-up handler is never acted on; asynchronously it holds a libuv pool
 * thread for good. Here each directory is created at most twice: the second ENOENT is the answer.
 * A path through a symlink to nothing (a volume that is not mounted) fails as `mkdir -p` fails
 * it, EEXIST on the link.
 */

function code(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException).code;
}

/** Creates `path` and any missing parents with `mode` (like `mkdir -p`); an existing directory is fine. */
export function makeDirectorySync(path: string, mode: number): void {
  const target = resolve(path);
  const isDirectory = (): boolean =>
    statSync(target, { throwIfNoEntry: false })?.isDirectory() === true;
  try {
    mkdirSync(target, { mode });
    return;
  } catch (error) {
    if (code(error) === 'EEXIST' && isDirectory()) return;
    if (code(error) !== 'ENOENT' || dirname(target) === target) throw error;
  }
  makeDirectorySync(dirname(target), mode);
  try {
    mkdirSync(target, { mode });
  } catch (error) {
    // Made meanwhile (another process starting beside this one): as good as made here.
    if (code(error) === 'EEXIST' && isDirectory()) return;
    throw error;
  }
}

/** makeDirectorySync without blocking the event loop. */
export async function makeDirectory(path: string, mode: number): Promise<void> {
  const target = resolve(path);
  const isDirectory = async (): Promise<boolean> =>
    (await stat(target).catch(() => undefined))?.isDirectory() === true;
  try {
    await mkdir(target, { mode });
    return;
  } catch (error) {
    if (code(error) === 'EEXIST' && (await isDirectory())) return;
    if (code(error) !== 'ENOENT' || dirname(target) === target) throw error;
  }
  await makeDirectory(dirname(target), mode);
  try {
    await mkdir(target, { mode });
  } catch (error) {
    if (code(error) === 'EEXIST' && (await isDirectory())) return;
    throw error;
  }
}
