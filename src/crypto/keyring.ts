import { hkdfSync, randomBytes } from 'node:crypto';
import { closeSync, fstatSync, openSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { inspect } from 'node:util';
import { makeDirectorySync } from '../files/make-directory.js';
import {
  FileTooLargeError,
  readDescriptorBoundedSync,
  SETTINGS_FILE_MAX_BYTES,
} from '../files/read-bounded.js';

/** Master keys are AES-256 / HKDF-SHA256 sized: 256 bits. */
export const MASTER_KEY_BYTES = 32;
/** Prefix of every HKDF `info`, so keys derived here never collide with another scheme's. */
const INFO_PREFIX = 'bulwark/v1/';
const PURPOSE = /^[a-z0-9][a-z0-9.-]{0,63}$/;
const MAX_VERSION = 2 ** 31 - 1;

/** Checks a key purpose name (`field-encryption`, `signing-key-wrap` …); throws KeyringError. */
export function assertPurpose(purpose: string): void {
  if (typeof purpose !== 'string' || !PURPOSE.test(purpose)) {
    throw new KeyringError('Key purpose must be 1-64 characters of a-z, 0-9, "." and "-"');
  }
}

/** A keyring could not be built or loaded. Messages never contain key material. */
export class KeyringError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyringError';
  }
}

/** The on-disk form: `{ "current": 2, "keys": { "1": "<base64>", "2": "<base64>" } }`. */
export interface KeyringFileJson {
  current: number;
  keys: Record<string, string>;
}

/** Result of Keyring.loadOrCreateDevFile; `created` asks the caller to warn loudly. */
export interface LoadedKeyring {
  keyring: Keyring;
  created: boolean;
}

function parseVersion(text: string, where: string): number {
  if (!/^[1-9]\d{0,9}$/.test(text) || Number(text) > MAX_VERSION) {
    throw new KeyringError(`${where}: key version must be an integer from 1 to ${MAX_VERSION}`);
  }
  return Number(text);
}

/**
 * Decodes standard or URL-safe base64, strictly: Node's decoder silently skips invalid
 * characters, which would turn a typo into a different (and shorter) key.
 */
function decodeKey(text: string, where: string): Buffer {
  const trimmed = text.trim();
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)) {
    throw new KeyringError(`${where}: key is not valid base64`);
  }
  const key = Buffer.from(trimmed, 'base64');
  if (key.length !== MASTER_KEY_BYTES) {
    throw new KeyringError(
      `${where}: key must decode to exactly ${MASTER_KEY_BYTES} bytes, got ${key.length}` +
        ' (generate one with: openssl rand -base64 32)',
    );
  }
  return key;
}

/** True when `mode` gives group or others any access; such a file's key is not secret. */
function exposedMode(mode: number): boolean {
  // Windows has no POSIX modes (Node reports 0o666 for every file), so there is nothing to check.
  return process.platform !== 'win32' && (mode & 0o077) !== 0;
}

/**
 * Versioned master keys for encryption at rest. Only `deriveKey` hands out key material, and
 * only derived, purpose-bound keys: a master key never encrypts anything directly. New data
 * uses `currentVersion`; older versions stay to decrypt what they wrote until it is re-encrypted.
 * @see https://www.rfc-editor.org/rfc/rfc5869
 */
export class Keyring {
  /** Version used for new encryptions: the highest one unless the file says otherwise. */
  readonly currentVersion: number;
  readonly #keys: Map<number, Buffer>;

  constructor(keys: Map<number, Buffer>, currentVersion: number) {
    const copy = new Map<number, Buffer>();
    for (const [version, key] of keys) {
      if (!Number.isInteger(version) || version < 1 || version > MAX_VERSION) {
        throw new KeyringError(`Key version must be an integer from 1 to ${MAX_VERSION}`);
      }
      if (!Buffer.isBuffer(key) || key.length !== MASTER_KEY_BYTES) {
        throw new KeyringError(`Key version ${version} must be exactly ${MASTER_KEY_BYTES} bytes`);
      }
      // A private copy: the caller may zero or reuse its buffer.
      copy.set(version, Buffer.from(key));
    }
    if (!copy.has(currentVersion)) {
      throw new KeyringError(`Current key version ${currentVersion} is not in the keyring`);
    }
    this.#keys = copy;
    this.currentVersion = currentVersion;
  }

  /**
   * Parses `BULWARK_MASTER_KEY`-style values: one base64 key (version 1), or a comma-separated
   * list of `version:base64` entries whose highest version is current (`2:AAA…,1:BBB…`).
   */
  static fromEnvValue(value: string): Keyring {
    const text = value.trim();
    if (text === '') throw new KeyringError('Master key is empty');
    if (!text.includes(':') && !text.includes(',')) {
      return new Keyring(new Map([[1, decodeKey(text, 'Master key')]]), 1);
    }
    const keys = new Map<number, Buffer>();
    for (const [index, entry] of text.split(',').entries()) {
      const colon = entry.indexOf(':');
      if (colon < 0) {
        throw new KeyringError(`Master key entry ${index + 1} must look like <version>:<base64>`);
      }
      const version = parseVersion(entry.slice(0, colon).trim(), `Master key entry ${index + 1}`);
      if (keys.has(version)) throw new KeyringError(`Master key version ${version} is repeated`);
      keys.set(version, decodeKey(entry.slice(colon + 1), `Master key version ${version}`));
    }
    return new Keyring(keys, Math.max(...keys.keys()));
  }

  /**
   * Reads a key file (see KeyringFileJson). Refuses a file that group or others may access:
   * a readable key file leaks every encrypted field to any local account.
   */
  static fromFile(path: string): Keyring {
    // fstat on the opened descriptor, so the mode checked is that of the file actually read.
    const fd = openSync(path, 'r');
    let text: string;
    try {
      const mode = fstatSync(fd).mode & 0o777;
      if (exposedMode(mode)) {
        const octal = mode.toString(8).padStart(4, '0');
        throw new KeyringError(
          `Key file ${path} is accessible by group or others (mode ${octal}); run: chmod 600 ${path}`,
        );
      }
      text = readDescriptorBoundedSync(fd, SETTINGS_FILE_MAX_BYTES).toString('utf8');
    } catch (error) {
      if (error instanceof FileTooLargeError) {
        throw new KeyringError(`Key file ${path} is ${error.message}: not a key file`);
      }
      throw error;
    } finally {
      closeSync(fd);
    }
    return Keyring.#fromFileJson(text, path);
  }

  /**
   * For development only: loads the key file, or creates it (mode 0600, directory 0700) with one
   * random key when it is missing. `created: true` means data encrypted under another key is
   * unreadable and the caller should say so loudly. Production refuses to start without a key.
   */
  static loadOrCreateDevFile(path: string): LoadedKeyring {
    const keyring = new Keyring(new Map([[1, randomBytes(MASTER_KEY_BYTES)]]), 1);
    makeDirectorySync(dirname(path), 0o700);
    try {
      // 'wx' fails if the file exists, so two processes starting together cannot overwrite
      // each other's key, and an existing key is never replaced.
      writeFileSync(path, `${JSON.stringify(keyring.toFileJson(), null, 2)}\n`, {
        mode: 0o600,
        flag: 'wx',
      });
      return { keyring, created: true };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    return { keyring: Keyring.fromFile(path), created: false };
  }

  /** Checks a master key for the marks of a non-random value; for production posture checks. */
  static looksWeak(key: Buffer): boolean {
    if (key.length !== MASTER_KEY_BYTES) return true;
    // 32 random bytes have ~30 distinct values; fewer than 16 happens with negligible odds.
    if (new Set(key).size < 16) return true;
    // A counting sequence (00 01 02 …) has 32 distinct bytes and no entropy.
    if (key.every((byte, i) => i === 0 || byte === ((key[i - 1]! + 1) & 0xff))) return true;
    // All printable ASCII means a passphrase was used as a key: odds for random bytes ~1e-14.
    return key.every((byte) => byte >= 0x20 && byte <= 0x7e);
  }

  /** All versions, ascending. */
  versions(): number[] {
    return [...this.#keys.keys()].sort((a, b) => a - b);
  }

  has(version: number): boolean {
    return this.#keys.has(version);
  }

  /** Versions whose key looks non-random (see looksWeak). */
  weakVersions(): number[] {
    return this.versions().filter((v) => Keyring.looksWeak(this.#keys.get(v)!));
  }

  /**
   * HKDF-SHA256 of master key `version` with `salt` and info `bulwark/v1/<purpose>`: 32 bytes.
   * Distinct purposes give independent keys from one master key.
   * @see https://www.rfc-editor.org/rfc/rfc5869#section-2
   */
  deriveKey(purpose: string, version: number, salt: Buffer): Buffer {
    assertPurpose(purpose);
    const master = this.#keys.get(version);
    if (master === undefined) throw new KeyringError(`Unknown key version ${version}`);
    return Buffer.from(hkdfSync('sha256', master, salt, `${INFO_PREFIX}${purpose}`, 32));
  }

  /** The same keys with `version` current (a staged rotation pins the previous version). */
  withCurrent(version: number): Keyring {
    if (!this.#keys.has(version)) {
      throw new KeyringError(
        `Key version ${version} is not in the keyring (versions: ${this.versions().join(', ')})`,
      );
    }
    return new Keyring(this.#keys, version);
  }

  /** A new keyring with one more version, a fresh random key, made current. Old keys stay. */
  addVersion(): Keyring {
    const next = Math.max(...this.#keys.keys()) + 1;
    const keys = new Map(this.#keys);
    keys.set(next, randomBytes(MASTER_KEY_BYTES));
    return new Keyring(keys, next);
  }

  /** The key file contents. Holds every master key: write it only to a 0600 file. */
  toFileJson(): KeyringFileJson {
    const keys: Record<string, string> = {};
    for (const version of this.versions()) {
      keys[version] = this.#keys.get(version)!.toString('base64');
    }
    return { current: this.currentVersion, keys };
  }

  /** What JSON.stringify (and so the logger) sees: versions, never keys. */
  toJSON(): { currentVersion: number; versions: number[] } {
    return { currentVersion: this.currentVersion, versions: this.versions() };
  }

  [inspect.custom](): string {
    return `Keyring { currentVersion: ${this.currentVersion}, versions: [${this.versions().join(', ')}] }`;
  }

  static #fromFileJson(text: string, path: string): Keyring {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      // JSON.parse quotes the text around the error, which would put key bytes into a log:
      // neither its message nor the error itself (as `cause`) is kept.
      throw new KeyringError(`Key file ${path} is not valid JSON`);
    }
    const shape = `Key file ${path} must look like {"current": 1, "keys": {"1": "<base64>"}}`;
    if (typeof data !== 'object' || data === null || Array.isArray(data)) {
      throw new KeyringError(shape);
    }
    const { current, keys, ...rest } = data as Record<string, unknown>;
    if (
      Object.keys(rest).length > 0 ||
      typeof current !== 'number' ||
      typeof keys !== 'object' ||
      keys === null ||
      Array.isArray(keys)
    ) {
      throw new KeyringError(shape);
    }
    const map = new Map<number, Buffer>();
    for (const [name, encoded] of Object.entries(keys)) {
      const version = parseVersion(name, `Key file ${path}`);
      if (typeof encoded !== 'string') throw new KeyringError(shape);
      map.set(version, decodeKey(encoded, `Key file ${path}, version ${version}`));
    }
    if (!map.has(current)) {
      throw new KeyringError(`Key file ${path}: current version ${current} has no key`);
    }
    return new Keyring(map, current);
  }
}
