import { availableParallelism } from 'node:os';
import { hash as argon2Hash, verify as argon2Verify, type Algorithm } from '@node-rs/argon2';
import { AppError } from '../errors.js';
import { normalizePassword } from './password-input.js';
import { randomToken } from './random.js';
import { Semaphore, SemaphoreFullError } from './semaphore.js';

/**
 * `Algorithm` is an ambient const enum, which `verbatimModuleSyntax` cannot inline; the value
 * is spelled out. A test checks that new hashes start with `$argon2id$`.
 */
const ARGON2ID = 2 as Algorithm;

/** Version 0x13 of the argon2 algorithm, the only one RFC 9106 specifies. */
const ARGON2_VERSION = 19;
/** What @node-rs/argon2 produces: a 16-byte salt and a 32-byte tag (RFC 9106 section 4). */
const SALT_BYTES = 16;
const HASH_BYTES = 32;

/**
 * Upper bounds for the parameters of a stored hash. A hash is data (imported from a legacy
 * system, restored from a backup); one with m=4 TiB or bcrypt cost 31 would make a single login
 * allocate the machine's memory or run for days, so such hashes are treated as malformed.
 * 2 GiB is RFC 9106's largest recommended memory; bcrypt cost 16 takes seconds already.
 */
const MAX_MEMORY_KIB = 2 ** 21;
const MAX_ITERATIONS = 64;
const MAX_PARALLELISM = 255;
const MAX_BCRYPT_COST = 16;
/**
 * bcrypt reads only the first 72 bytes of a password and ignores the rest, so against a bcrypt
 * hash every password sharing those bytes would pass (CVE-2025-22228 in Spring Security), and the
 * upgrade would then store the caller's tail as the account's password.
 */
const BCRYPT_MAX_BYTES = 72;
/**
 * Default queue bound per concurrent hash. An unbounded queue let a login flood pile up work
 * long after its clients had given up: 1500 parallel logins (clients waiting 5 s) kept two cores
 * hashing for ~45 s more, and a login arriving then waited 43 s. Refusing early keeps the wait
 * short for the requests that are taken.
 */
const QUEUED_PER_SLOT = 64;

function busy(cause: unknown): AppError {
  return new AppError(
    'service_unavailable',
    'Passwords cannot be checked right now. Try again shortly.',
    { cause, headers: { 'retry-after': '1' } },
  );
}

/** Argon2id parameters of new hashes, and the bound on concurrent hash work. */
export interface PasswordHasherOptions {
  /** Memory per hash in KiB (`m`). OWASP: 19456 (19 MiB). */
  memoryKiB: number;
  /** Passes over memory (`t`). OWASP: 2. */
  iterations: number;
  /** Lanes (`p`). OWASP: 1. */
  parallelism: number;
  /** Hashes and verifications that may run at once; the rest queue. Default: CPU count. */
  maxConcurrent?: number;
  /**
   * Hashes and verifications that may wait for a slot; more are refused with 503
   * service_unavailable. Default: 64 per concurrent slot (about 2 s of OWASP-parameter work).
   */
  maxQueued?: number;
  /** Receives the compute time of each hash or verification (not the queueing), for metrics. */
  onMeasure?: (operation: 'hash' | 'verify', seconds: number) => void;
}

/** Outcome of a verification. `needsRehash` is only ever true when `ok` is. */
export interface VerifyResult {
  ok: boolean;
  /** The password was right but the stored hash is weaker or older than the current policy. */
  needsRehash: boolean;
}

interface Argon2Phc {
  kind: 'argon2';
  variant: 'argon2id' | 'argon2i' | 'argon2d';
  version: number;
  memoryKiB: number;
  iterations: number;
  parallelism: number;
  saltBytes: number;
  hashBytes: number;
}

interface BcryptHash {
  kind: 'bcrypt';
}

const ARGON2_PHC =
  /^\$(argon2id|argon2i|argon2d)\$(?:v=(16|19)\$)?m=([1-9]\d{0,9}),t=([1-9]\d{0,9}),p=([1-9]\d{0,2})\$([A-Za-z0-9+/]{11,})\$([A-Za-z0-9+/]{6,})$/;
/** Modular crypt format of bcrypt: `$2b$<cost>$<22 salt chars><31 hash chars>`. */
const BCRYPT_MCF = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;

/** Decoded length of unpadded base64 of `chars` characters. */
function base64Bytes(chars: number): number {
  return Math.floor((chars * 3) / 4);
}

/** Recognises a stored hash and its parameters, or returns undefined if it is not one we accept. */
function parseStoredHash(stored: string): Argon2Phc | BcryptHash | undefined {
  const argon = ARGON2_PHC.exec(stored);
  if (argon !== null) {
    const [, variant, version, m, t, p, salt, tag] = argon;
    const parsed: Argon2Phc = {
      kind: 'argon2',
      variant: variant as Argon2Phc['variant'],
      // A missing `v=` means the original 0x10 version (PHC string format of argon2 < 1.3).
      version: version === undefined ? 16 : Number(version),
      memoryKiB: Number(m),
      iterations: Number(t),
      parallelism: Number(p),
      saltBytes: base64Bytes(salt!.length),
      hashBytes: base64Bytes(tag!.length),
    };
    const sane =
      parsed.memoryKiB <= MAX_MEMORY_KIB &&
      parsed.memoryKiB >= 8 * parsed.parallelism &&
      parsed.iterations <= MAX_ITERATIONS &&
      parsed.parallelism <= MAX_PARALLELISM;
    return sane ? parsed : undefined;
  }
  const bcrypt = BCRYPT_MCF.exec(stored);
  if (bcrypt !== null) {
    const cost = Number(bcrypt[1]);
    return cost >= 4 && cost <= MAX_BCRYPT_COST ? { kind: 'bcrypt' } : undefined;
  }
  return undefined;
}

/**
 * Whether `stored` is a hash {@link PasswordHasher.verify} can check: argon2 (id, i, d) as a PHC
 * string, or bcrypt (2a, 2b, 2y), with parameters within the bounds a login accepts. For users
 * imported from another system, whose hashes are upgraded to argon2id at their first login.
 */
export function isAcceptedPasswordHash(stored: string): boolean {
  return parseStoredHash(stored) !== undefined;
}

function checkOption(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`PasswordHasher: ${name} must be an integer from ${min} to ${max}`);
  }
}

/**
 * Hashes passwords with argon2id and verifies argon2 and legacy bcrypt hashes, reporting when a
 * stored hash should be upgraded. Work runs on the libuv thread pool (never the event loop),
 * at most `maxConcurrent` at a time.
 * @see https://www.rfc-editor.org/rfc/rfc9106
 * @see https://cheatsheetseries.owasp.org/cheatsheets/Password_Storage_Cheat_Sheet.html
 */
export class PasswordHasher {
  readonly #memoryKiB: number;
  readonly #iterations: number;
  readonly #parallelism: number;
  readonly #semaphore: Semaphore;
  readonly #onMeasure: PasswordHasherOptions['onMeasure'];
  #dummyHash: Promise<string> | undefined;

  constructor(opts: PasswordHasherOptions) {
    checkOption('parallelism', opts.parallelism, 1, MAX_PARALLELISM);
    // argon2 needs at least 8 KiB per lane.
    checkOption('memoryKiB', opts.memoryKiB, 8 * opts.parallelism, MAX_MEMORY_KIB);
    checkOption('iterations', opts.iterations, 1, MAX_ITERATIONS);
    const maxConcurrent = opts.maxConcurrent ?? availableParallelism();
    checkOption('maxConcurrent', maxConcurrent, 1, 1024);
    const maxQueued = opts.maxQueued ?? QUEUED_PER_SLOT * maxConcurrent;
    checkOption('maxQueued', maxQueued, 0, 1_000_000);
    this.#memoryKiB = opts.memoryKiB;
    this.#iterations = opts.iterations;
    this.#parallelism = opts.parallelism;
    this.#semaphore = new Semaphore(maxConcurrent, maxQueued);
    this.#onMeasure = opts.onMeasure;
  }

  /** Runs `work` under the concurrency bound and reports its duration, queueing excluded. */
  async #timed<T>(operation: 'hash' | 'verify', work: () => Promise<T>): Promise<T> {
    let release: () => void;
    try {
      release = await this.#semaphore.acquire();
    } catch (error) {
      throw error instanceof SemaphoreFullError ? busy(error) : error;
    }
    const start = process.hrtime.bigint();
    try {
      return await work();
    } finally {
      this.#onMeasure?.(operation, Number(process.hrtime.bigint() - start) / 1e9);
      release();
    }
  }

  /**
   * Hashes a password into a PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`) with a fresh
   * 16-byte salt. Throws a RangeError for a password over MAX_PASSWORD_BYTES.
   * @throws AppError service_unavailable when `maxQueued` hashes already wait
   */
  async hash(password: string): Promise<string> {
    const normalized = normalizePassword(password);
    if (normalized === undefined) throw new RangeError('Password is too long');
    return this.#timed('hash', () =>
      argon2Hash(normalized, {
        algorithm: ARGON2ID,
        memoryCost: this.#memoryKiB,
        timeCost: this.#iterations,
        parallelism: this.#parallelism,
      }),
    );
  }

  /**
   * Checks a password against a stored argon2 (id, i, d) or bcrypt (2a, 2b, 2y) hash. Never
   * throws: a malformed or unsupported hash, or an over-long password (over 72 bytes against
   * bcrypt), is `{ ok: false }`.
   * @throws AppError service_unavailable when `maxQueued` hashes already wait (never a false `ok`)
   */
  async verify(stored: string, password: string): Promise<VerifyResult> {
    const fail: VerifyResult = { ok: false, needsRehash: false };
    const normalized = normalizePassword(password);
    if (normalized === undefined || typeof stored !== 'string') return fail;
    const parsed = parseStoredHash(stored);
    if (parsed === undefined) return fail;
    try {
      if (parsed.kind === 'bcrypt') {
        // Only imported users have bcrypt hashes: load the binding when the first one logs in.
        const { verify: bcryptVerify } = await import('@node-rs/bcrypt');
        // A longer password is still checked, so its answer takes as long as any other, but never
        // passes: bcrypt would have compared its first 72 bytes only.
        const within = (value: string) => Buffer.byteLength(value, 'utf8') <= BCRYPT_MAX_BYTES;
        const ok = await this.#timed('verify', async () => {
          if ((await bcryptVerify(normalized, stored)) && within(normalized)) return true;
          // Legacy systems hashed what the user typed, without NFKC. Trying the raw form too
          // keeps those users able to log in; the argon2id rehash then stores the normal form.
          return (
            normalized !== password && (await bcryptVerify(password, stored)) && within(password)
          );
        });
        // bcrypt is always upgraded: it truncates at 72 bytes and is not memory-hard.
        return { ok, needsRehash: ok };
      }
      const ok = await this.#timed('verify', () => argon2Verify(stored, normalized));
      return { ok, needsRehash: ok && this.#isOutdated(parsed) };
    } catch (error) {
      // Too busy is not a wrong password: the caller answers 503, never 401.
      if (error instanceof AppError) throw error;
      // The native verifier rejects what the pattern let through (a salt under 8 bytes, say).
      return fail;
    }
  }

  /**
   * Spends the time of a real verification, against a hash of a random secret made once with
   * the current parameters. Call it when the account does not exist, so the answer's timing
   * does not tell an attacker which emails are registered.
   */
  async verifyDummy(password: string): Promise<void> {
    // Kept as a promise so concurrent first calls share one hash; reset on failure to retry.
    this.#dummyHash ??= this.hash(randomToken(32)).catch((error: unknown) => {
      this.#dummyHash = undefined;
      throw error;
    });
    const dummy = await this.#dummyHash;
    await this.verify(dummy, password);
  }

  /** Hashes running and waiting now, for metrics and load-shedding decisions. */
  stats(): { running: number; queued: number } {
    return { running: this.#semaphore.running, queued: this.#semaphore.queued };
  }

  #isOutdated(phc: Argon2Phc): boolean {
    return (
      phc.variant !== 'argon2id' ||
      phc.version !== ARGON2_VERSION ||
      phc.memoryKiB !== this.#memoryKiB ||
      phc.iterations !== this.#iterations ||
      phc.parallelism !== this.#parallelism ||
      phc.saltBytes < SALT_BYTES ||
      phc.hashBytes < HASH_BYTES
    );
  }
}
