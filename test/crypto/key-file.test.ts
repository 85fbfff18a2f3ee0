import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  lstatSync,
  symlinkSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createSecretFile,
  Keyring,
  KeyringError,
  keyringText,
  replaceSecretFile,
  rotateKeyFile,
} from '../../src/crypto/index.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'bulwark-key-file-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function keyring(...versions: number[]): Keyring {
  return new Keyring(new Map(versions.map((v) => [v, randomBytes(32)])), Math.max(...versions));
}

function writeKeyFile(path: string, k: Keyring): void {
  writeFileSync(path, keyringText(k, 'json'), { mode: 0o600 });
  chmodSync(path, 0o600);
}

const mode = (path: string): number => statSync(path).mode & 0o777;

describe('rotateKeyFile', () => {
  it('adds a fresh current version and keeps every old one, byte for byte', () => {
    const path = join(dir, 'keys.json');
    const before = keyring(1, 2);
    writeKeyFile(path, before);
    expect(rotateKeyFile(path, before)).toEqual({
      previousVersion: 2,
      newVersion: 3,
      versions: [1, 2, 3],
    });
    const after = Keyring.fromFile(path);
    expect(after.currentVersion).toBe(3);
    const { keys } = after.toFileJson();
    expect(keys['1']).toBe(before.toFileJson().keys['1']);
    expect(keys['2']).toBe(before.toFileJson().keys['2']);
    expect(new Set(Object.values(keys)).size).toBe(3);
    expect(mode(path)).toBe(0o600);
    // Neither the temporary file nor the lock stays behind.
    expect(readdirSync(dir)).toEqual(['keys.json']);
  });

  it('rotates the target of a symlinked key file and keeps the link', () => {
    const target = join(dir, 'real.json');
    const link = join(dir, 'link.json');
    writeKeyFile(target, keyring(1));
    symlinkSync(target, link);
    expect(rotateKeyFile(link).newVersion).toBe(2);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(Keyring.fromFile(target).versions()).toEqual([1, 2]);
    expect(readdirSync(dir).sort()).toEqual(['link.json', 'real.json']);
  });

  it('accepts a keyring whose current version is pinned elsewhere (same keys)', () => {
    const path = join(dir, 'keys.json');
    const before = keyring(1, 2);
    writeKeyFile(path, before);
    expect(rotateKeyFile(path, before.withCurrent(1)).newVersion).toBe(3);
  });

  it('writes nothing when the file no longer holds the keys the caller checked', () => {
    const path = join(dir, 'keys.json');
    writeKeyFile(path, keyring(1));
    const text = readFileSync(path, 'utf8');
    expect(() => rotateKeyFile(path, keyring(1))).toThrow(/changed while this command ran/);
    expect(readFileSync(path, 'utf8')).toBe(text);
    expect(readdirSync(dir)).toEqual(['keys.json']);
  });

  it('refuses while another rotation holds the lock, and leaves that lock alone', () => {
    const path = join(dir, 'keys.json');
    writeKeyFile(path, keyring(1));
    writeFileSync(`${path}.lock`, '');
    expect(() => rotateKeyFile(path)).toThrow(KeyringError);
    expect(() => rotateKeyFile(path)).toThrow(
      /another rotation is running.*delete .*keys\.json\.lock and any .*\/\.keys\.json\.\*\.tmp left by it \(an interrupted write: it holds every key version\), and retry$/,
    );
    expect(Keyring.fromFile(path).versions()).toEqual([1]);
    expect(readdirSync(dir).sort()).toEqual(['keys.json', 'keys.json.lock']);
  });

  it('refuses a key file others can read, without rewriting it', () => {
    const path = join(dir, 'keys.json');
    writeKeyFile(path, keyring(1));
    chmodSync(path, 0o644);
    expect(() => rotateKeyFile(path)).toThrow(/accessible by group or others/);
    expect(readdirSync(dir)).toEqual(['keys.json']);
  });
});

describe('createSecretFile and replaceSecretFile', () => {
  it('create a 0600 file, and never overwrite one that exists', () => {
    const path = join(dir, 'secret');
    createSecretFile(path, 'first\n');
    expect(mode(path)).toBe(0o600);
    expect(() => createSecretFile(path, 'second\n')).toThrow(
      /already exists; it is never overwritten/,
    );
    expect(readFileSync(path, 'utf8')).toBe('first\n');
    expect(readdirSync(dir)).toEqual(['secret']);
  });

  // Only root can give a file to another account, and only root can read another account's
  // 0600 key file to rotate it (sudo bulwark keys rotate-master).
  it.runIf(process.getuid?.() === 0)(
    "keep the replaced file's owner, so the service account can still read it",
    () => {
      const path = join(dir, 'keys.json');
      const before = keyring(1);
      writeKeyFile(path, before);
      chownSync(path, 4242, 4343);
      rotateKeyFile(path, before);
      expect(statSync(path)).toMatchObject({ uid: 4242, gid: 4343 });
      expect(mode(path)).toBe(0o600);
      expect(Keyring.fromFile(path).versions()).toEqual([1, 2]);
    },
  );

  it('replace a file whole, as 0600, even if it was looser before', () => {
    const path = join(dir, 'secret');
    writeFileSync(path, 'old', { mode: 0o644 });
    replaceSecretFile(path, 'new');
    expect(readFileSync(path, 'utf8')).toBe('new');
    expect(mode(path)).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['secret']);
  });
});

describe('keyringText', () => {
  it('writes a BULWARK_MASTER_KEY value that reads back as the same keyring', () => {
    const k = keyring(1, 2, 5);
    const value = keyringText(k, 'value');
    expect(value).toMatch(/^5:[^,]+,2:[^,]+,1:[^,]+\n$/);
    expect(Keyring.fromEnvValue(value).toFileJson()).toEqual(k.toFileJson());
  });

  it('refuses the value form when the current version is not the highest', () => {
    expect(() => keyringText(keyring(1, 2).withCurrent(1), 'value')).toThrow(/cannot express/);
    expect(JSON.parse(keyringText(keyring(1, 2).withCurrent(1), 'json'))).toMatchObject({
      current: 1,
    });
  });
});

describe('Keyring.withCurrent', () => {
  it('pins a version it holds, and refuses one it does not', () => {
    const k = keyring(1, 2);
    expect(k.withCurrent(1).currentVersion).toBe(1);
    expect(k.withCurrent(1).versions()).toEqual([1, 2]);
    expect(() => k.withCurrent(3)).toThrow('Key version 3 is not in the keyring (versions: 1, 2)');
  });
});
