import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { assertPurpose, type Keyring } from './keyring.js';

/** Envelope format tag; a new format gets a new tag so old values stay readable. */
const FORMAT = 'bwf1';
/** 96-bit IVs are GCM's native size (NIST SP 800-38D 8.2); anything else is hashed into one. */
const IV_BYTES = 12;
/**
 * A fresh HKDF salt per value gives every value its own AES key, so the 2^32-messages-per-key
 * limit of random 96-bit IVs (SP 800-38D 8.3) never applies, however many values are written.
 */
const SALT_BYTES = 16;
/** Full 128-bit tags only: GCM's forgery odds grow quickly as the tag is truncated. */
const TAG_BYTES = 16;
const VERSION = /^[1-9]\d{0,9}$/;
const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** Where a value lives. Bound into the ciphertext, so a value moved elsewhere fails to decrypt. */
export interface FieldContext {
  table: string;
  column: string;
  rowId: string;
}

/** Why a value could not be decrypted. None of them says anything about the plaintext or key. */
export type DecryptionFailure = 'malformed' | 'unknown_key_version' | 'authentication_failed';

/**
 * A stored value could not be decrypted: it is malformed, was written under a key version no
 * longer in the keyring, or was altered or moved (the authentication tag did not match).
 */
export class DecryptionError extends Error {
  readonly reason: DecryptionFailure;
  /** For `unknown_key_version`: the master key version the value was written under. */
  readonly keyVersion: number | undefined;

  constructor(reason: DecryptionFailure, keyVersion?: number) {
    // The log line an operator meets when an instance runs with an older keyring than the one
    // that wrote the value (not restarted after `keys rotate-master`): it says what to do.
    super(
      reason === 'unknown_key_version' && keyVersion !== undefined
        ? `Field decryption failed: unknown key version ${keyVersion}: this process's master keyring does not hold it. Fix: restart it with the current keyring (every instance after \`bulwark keys rotate-master\`), or restore the version if it was removed.`
        : `Field decryption failed: ${reason.replaceAll('_', ' ')}`,
    );
    this.name = 'DecryptionError';
    this.reason = reason;
    this.keyVersion = keyVersion;
  }
}

interface Envelope {
  version: number;
  salt: Buffer;
  iv: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}

/**
 * Strict base64url: besides the alphabet, the text must be the canonical encoding of its bytes.
 * Node ignores the unused low bits of the last character, so without this check "…A" and "…B"
 * could decode alike and an altered envelope would still decrypt.
 */
function decodePart(part: string, bytes?: number): Buffer {
  if (!BASE64URL.test(part)) throw new DecryptionError('malformed');
  const buffer = Buffer.from(part, 'base64url');
  if (buffer.toString('base64url') !== part) throw new DecryptionError('malformed');
  if (bytes !== undefined && buffer.length !== bytes) throw new DecryptionError('malformed');
  return buffer;
}

function parseVersion(text: string | undefined): number {
  if (text === undefined || !VERSION.test(text)) throw new DecryptionError('malformed');
  return Number(text);
}

function parseEnvelope(envelope: string): Envelope {
  if (typeof envelope !== 'string') throw new DecryptionError('malformed');
  const parts = envelope.split('.');
  if (parts.length !== 6 || parts[0] !== FORMAT) throw new DecryptionError('malformed');
  const [, version, salt, iv, ciphertext, tag] = parts as [string, ...string[]];
  return {
    version: parseVersion(version),
    salt: decodePart(salt!, SALT_BYTES),
    iv: decodePart(iv!, IV_BYTES),
    ciphertext: decodePart(ciphertext!),
    tag: decodePart(tag!, TAG_BYTES),
  };
}

/**
 * Additional authenticated data: the envelope header and the value's location. JSON encoding
 * keeps it unambiguous ("a/b" + "c" differs from "a" + "b/c"). Authenticating the header stops
 * a version downgrade; the salt and IV need no binding, since a changed one changes the key or
 * the keystream and the tag fails.
 */
function additionalData(version: number, context: FieldContext): Buffer {
  const { table, column, rowId } = context;
  if (![table, column, rowId].every((v) => typeof v === 'string' && v.length > 0)) {
    throw new TypeError('FieldCipher: table, column and rowId must be non-empty strings');
  }
  return Buffer.from(JSON.stringify([FORMAT, version, table, column, rowId]), 'utf8');
}

/**
 * Encrypts single database values with AES-256-GCM under keys derived from the keyring, into a
 * compact versioned envelope: `bwf1.<keyVersion>.<salt>.<iv>.<ciphertext>.<tag>` (base64url).
 * One instance per purpose (`field-encryption`, `signing-key-wrap` …) keeps the keys of
 * different uses independent.
 * @see https://nvlpubs.nist.gov/nistpubs/Legacy/SP/nistspecialpublication800-38d.pdf
 * @see https://www.rfc-editor.org/rfc/rfc5869
 */
export class FieldCipher {
  readonly #keyring: Keyring;
  readonly #purpose: string;

  constructor(keyring: Keyring, purpose = 'field-encryption') {
    // Checked up front so a bad purpose fails at start-up, not on the first write. (No trial
    // derivation: that would need a made-up salt, and no fixed salt is ever used here.)
    assertPurpose(purpose);
    this.#keyring = keyring;
    this.#purpose = purpose;
  }

  /** Encrypts `plaintext` for the given location under the current key version. */
  encrypt(plaintext: string, context: FieldContext): string {
    const version = this.#keyring.currentVersion;
    const aad = additionalData(version, context);
    const salt = randomBytes(SALT_BYTES);
    const iv = randomBytes(IV_BYTES);
    const key = this.#keyring.deriveKey(this.#purpose, version, salt);
    try {
      const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
      cipher.setAAD(aad);
      const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      const tag = cipher.getAuthTag();
      return [FORMAT, version, salt, iv, ciphertext, tag]
        .map((part) => (Buffer.isBuffer(part) ? part.toString('base64url') : String(part)))
        .join('.');
    } finally {
      key.fill(0);
    }
  }

  /** Decrypts an envelope written by `encrypt` for the same location; throws DecryptionError. */
  decrypt(envelope: string, context: FieldContext): string {
    const parsed = parseEnvelope(envelope);
    const aad = additionalData(parsed.version, context);
    if (!this.#keyring.has(parsed.version)) {
      throw new DecryptionError('unknown_key_version', parsed.version);
    }
    const key = this.#keyring.deriveKey(this.#purpose, parsed.version, parsed.salt);
    try {
      // authTagLength pins the tag size: without it Node would accept a truncated tag.
      const decipher = createDecipheriv('aes-256-gcm', key, parsed.iv, {
        authTagLength: TAG_BYTES,
      });
      decipher.setAAD(aad);
      decipher.setAuthTag(parsed.tag);
      const plaintext = Buffer.concat([decipher.update(parsed.ciphertext), decipher.final()]);
      return plaintext.toString('utf8');
    } catch {
      // OpenSSL's message ("unable to authenticate data") adds nothing and is not kept.
      throw new DecryptionError('authentication_failed');
    } finally {
      key.fill(0);
    }
  }

  /** Key version an envelope was written with; throws DecryptionError if it is malformed. */
  keyVersionOf(envelope: string): number {
    return parseEnvelope(envelope).version;
  }

  /**
   * True when the envelope is not under the current key version. Any other version counts, not
   * only older ones: after a key file's `current` is moved back, values written under the
   * abandoned newer version must move too before that version can be removed.
   */
  needsReencrypt(envelope: string): boolean {
    return this.keyVersionOf(envelope) !== this.#keyring.currentVersion;
  }

  /**
   * The value re-encrypted under the current key version for the same location, or null when
   * it already is under it. Decrypts first, so a value that was altered or moved is never
   * "laundered" into a fresh valid envelope: that throws DecryptionError.
   */
  reencrypt(envelope: string, context: FieldContext): string | null {
    if (!this.needsReencrypt(envelope)) {
      // Already current, but still authenticated: a forged value must not count as done.
      this.decrypt(envelope, context);
      return null;
    }
    return this.encrypt(this.decrypt(envelope, context), context);
  }
}
