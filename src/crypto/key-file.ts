import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fchownSync,
  fstatSync,
  fsyncSync,
  linkSync,
  openSync,
  realpathSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { Keyring, KeyringError } from './keyring.js';

/** What `rotateKeyFile` did; versions only, never key material. */
export interface RotatedKeyFile {
  previousVersion: number;
  newVersion: number;
  versions: number[];
}

/** Forms a new keyring can be written in: a key file, or a `BULWARK_MASTER_KEY` value. */
export type KeyringFormat = 'json' | 'value';

/** The text of `keyring` in `format`; holds every master key. */
export function keyringText(keyring: Keyring, format: KeyringFormat): string {
  if (format === 'json') return `${JSON.stringify(keyring.toFileJson(), null, 2)}\n`;
  // The value form makes the highest version current, so it can only say what the file says
  // when the current version is the highest one.
  if (keyring.currentVersion !== Math.max(...keyring.versions())) {
    throw new KeyringError(
      `Key version ${keyring.currentVersion} is current but not the highest: a BULWARK_MASTER_KEY value cannot express that`,
    );
  }
  const { keys } = keyring.toFileJson();
  const entries = keyring
    .versions()
    .reverse()
    .map((version) => `${version}:${keys[version]!}`);
  return `${entries.join(',')}\n`;
}

/** fsync of a directory, so a rename or link in it survives a crash. Not possible on Windows. */
function syncDirectory(dir: string): void {
  if (process.platform === 'win32') return;
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Who owns a file: its replacement must belong to the same account to stay readable by it. */
interface Owner {
  uid: number;
  gid: number;
}

/**
 * Writes `text` to a new owner-only temporary file next to `path`, flushed to disk. The caller
 * moves it into place; the name is random so concurrent writers never share one. With `owner`,
 * the file is given to that account first (only root can, and only root needs to: a 0600 file
 * of another account cannot be read to be rotated by anyone else).
 */
function writeTemporary(path: string, text: string, owner?: Owner): string {
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  // 'wx' never follows or reuses an existing file; 0600 from the first byte (no chmod window).
  const fd = openSync(temporary, 'wx', 0o600);
  try {
    const made = fstatSync(fd);
    if (owner !== undefined && (made.uid !== owner.uid || made.gid !== owner.gid)) {
      fchownSync(fd, owner.uid, owner.gid);
    }
    writeSync(fd, text);
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    unlinkSync(temporary);
    throw error;
  }
  closeSync(fd);
  return temporary;
}

/**
 * Creates `path` holding `text` (mode 0600), atomically and only if it does not exist yet: a
 * reader sees no file or the whole file, never a part, and an existing file is never replaced.
 */
export function createSecretFile(path: string, text: string): void {
  const temporary = writeTemporary(path, text);
  try {
    // link() fails with EEXIST where rename() would silently replace the file.
    linkSync(temporary, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new KeyringError(`${path} already exists; it is never overwritten`);
    }
    throw error;
  } finally {
    unlinkSync(temporary);
  }
  syncDirectory(dirname(path));
}

/**
 * Replaces `path` with `text` (mode 0600) atomically: temporary file, fsync, rename, fsync of
 * the directory. A crash at any point leaves either the old file or the new one, whole. The new
 * file keeps the old one's owner: run as root (sudo) on the service account's key file, a rename
 * would otherwise leave a root-owned 0600 file the service can no longer read at its restart.
 */
export function replaceSecretFile(path: string, text: string): void {
  let owner: Owner | undefined;
  try {
    const { uid, gid } = statSync(path);
    owner = { uid, gid };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const temporary = writeTemporary(path, text, owner);
  try {
    renameSync(temporary, path);
  } catch (error) {
    unlinkSync(temporary);
    throw error;
  }
  syncDirectory(dirname(path));
}

/**
 * Adds a new random master key version to the key file at `given` and makes it current; every
 * existing version stays. `expected` is the keyring the caller checked against the database: if
 * the file no longer holds exactly that (someone rotated or edited it meanwhile), nothing is
 * written (the versions and keys are compared; `current` may be pinned elsewhere). A lock file (`<path>.lock`) keeps two rotations from both adding "the next" version,
 * where the second rename would drop the first one's key.
 */
export function rotateKeyFile(given: string, expected?: Keyring): RotatedKeyFile {
  // A symlinked key file (a secret mounted elsewhere) is rotated where it really lives; renaming
  // over the link would replace it with a detached copy.
  const path = realpathSync(given);
  const lock = `${path}.lock`;
  let lockFd: number;
  try {
    lockFd = openSync(lock, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new KeyringError(
        `${lock} exists: another rotation is running, or one was interrupted. If none is running, delete ${lock} and any ${join(dirname(path), `.${basename(path)}.*.tmp`)} left by it (an interrupted write: it holds every key version), and retry`,
      );
    }
    throw error;
  }
  try {
    const current = Keyring.fromFile(path);
    // Keys only: `current` may differ on purpose (keys.currentVersion pins an older version).
    if (
      expected !== undefined &&
      !isDeepStrictEqual(current.toFileJson().keys, expected.toFileJson().keys)
    ) {
      throw new KeyringError(
        `Key file ${path} changed while this command ran; nothing was written`,
      );
    }
    const next = current.addVersion();
    replaceSecretFile(path, keyringText(next, 'json'));
    return {
      previousVersion: current.currentVersion,
      newVersion: next.currentVersion,
      versions: next.versions(),
    };
  } finally {
    closeSync(lockFd);
    unlinkSync(lock);
  }
}
