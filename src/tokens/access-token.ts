import { randomUUID, sign as cryptoSign, verify as verifySignature } from 'node:crypto';
import { AppError } from '../errors.js';
import { BoundedCache } from './bounded-cache.js';
import type { SigningKeyStore, VerificationKey } from './signing-keys.js';

const encodeSegment = (json: unknown): string =>
  Buffer.from(JSON.stringify(json)).toString('base64url');

/** The claims of a Bulwark access token (RFC 9068 profile). */
export interface AccessClaims {
  sub: string;
  sid: string;
  role: string;
  jti: string;
  iat: number;
  exp: number;
  /**
   * How the session was signed in (RFC 8176 method names: `pwd`, `otp`, `mfa`); empty when the
   * token carries no `amr` (a provider sign-in without the account's own second factor).
   * @see https://www.rfc-editor.org/rfc/rfc9068#section-2.2.3.1
   */
  amr: readonly string[];
  /**
   * When the session was signed in (seconds since the epoch): refreshing keeps it, only a new
   * sign-in moves it. Null for a token that carries no `auth_time` (issued before it was added).
   * @see https://www.rfc-editor.org/rfc/rfc9068#section-2.2.1
   */
  authTime: number | null;
}

/** At most this many `amr` values of at most AMR_VALUE_MAX characters each are accepted. */
const AMR_MAX = 8;
const AMR_VALUE_MAX = 32;
const NO_AMR: readonly string[] = Object.freeze([]);

export interface AccessTokenOptions {
  issuer: string;
  audience: string;
  ttlSeconds: number;
  clockToleranceSeconds: number;
  /**
   * Verified tokens remembered per instance (keyed by the exact token string; only tokens that
   * passed a full verification get in). Default 10 000.
   */
  verifiedCacheCapacity?: number;
  now?: () => number;
}

/** A token that passed a full verification, and what a cache hit must re-check. */
interface Verified {
  claims: AccessClaims;
  kid: string;
  /** The key object it verified with: a hit is only good while the store still holds it. */
  key: VerificationKey;
  nbf: number | undefined;
}

const TOKEN_TYPE = 'at+jwt';
/** Header parameters that would let a token pick its own verification key: never honoured. */
const KEY_INJECTION_HEADERS = ['jku', 'jwk', 'x5u', 'x5c'] as const;
/**
 * Header parameters that change how a JWS is processed (critical extensions, an unencoded
 * payload). Bulwark never issues them, so a token carrying one is not ours: refused.
 */
const PROCESSING_HEADERS = ['crit', 'b64'] as const;
/** Compact JWS: three base64url parts. Anything else is refused before any parsing. */
const COMPACT_JWS = /^[A-Za-z0-9_-]{2,4096}\.[A-Za-z0-9_-]{2,8192}\.[A-Za-z0-9_-]{2,1024}$/;
/** Claims every access token must carry (RFC 9068 section 2.2). */
const REQUIRED_CLAIMS = ['iss', 'aud', 'exp', 'iat', 'sub', 'jti'] as const;
/** Both EdDSA (Ed25519) and ES256 (P-256, IEEE P1363 encoding) signatures are 64 bytes. */
const SIGNATURE_BYTES = 64;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Strict base64url: a length that no encoding produces (1 mod 4) is refused, not truncated. */
function base64url(segment: string): Buffer {
  if (segment.length % 4 === 1) throw new TypeError('invalid base64url');
  return Buffer.from(segment, 'base64url');
}

/**
 * The signature bytes, only from their one canonical encoding: the last character of 64 bytes in
 * base64url carries 2 unused bits, and a token whose signature sets them is a different string
 * for the same signature. Refusing it keeps tokens non-malleable (one valid string per token).
 */
function canonicalSignature(segment: string): Buffer {
  const bytes = base64url(segment);
  if (bytes.toString('base64url') !== segment) throw new TypeError('non-canonical signature');
  return bytes;
}

/** A JSON object, not an array, null or a value with an exotic prototype. */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype = Object.getPrototypeOf(value) as unknown;
  return prototype === Object.prototype || prototype === null;
}

/** `typ` compared as a media type: case-insensitive, with or without `application/`. */
function normalizeTyp(value: string): string {
  const lower = value.toLowerCase();
  return lower.includes('/') ? lower : `application/${lower}`;
}

/** A 401 invalid_token with the RFC 6750 challenge. `reason` goes to logs and events only. */
export function invalidToken(reason: string, cause?: unknown): AppError {
  return new AppError('invalid_token', 'The access token is invalid or expired.', {
    headers: { 'www-authenticate': 'Bearer error="invalid_token"' },
    // The reason is ours (safe for logs and events); the library's error hangs below it.
    cause: new Error(reason, cause === undefined ? undefined : { cause }),
  });
}

/**
 * Issues and verifies access tokens: short-lived JWTs signed with the service's current key.
 * Verification pins the algorithm to the configured one, requires iss/aud/exp/typ, and never
 * lets a token choose its key (jku/jwk/x5u/x5c headers are refused; `kid` must be one of ours).
 * @see https://www.rfc-editor.org/rfc/rfc9068
 * @see https://www.rfc-editor.org/rfc/rfc8725
 */
export class AccessTokens {
  private readonly now: () => number;
  private readonly verified: BoundedCache<string, Verified>;

  constructor(
    private readonly keys: SigningKeyStore,
    private readonly options: AccessTokenOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.verified = new BoundedCache(options.verifiedCacheCapacity ?? 10_000);
  }

  get ttlSeconds(): number {
    return this.options.ttlSeconds;
  }

  /**
   * Signs a token for a session (JWS compact serialisation, RFC 7515). Signed synchronously with
   * node:crypto: jose signs through WebCrypto, whose jobs queue on the libuv thread pool behind
   * argon2 hashes, so every login paid for the hashes of the logins ahead of it.
   */
  async issue(subject: {
    userId: string;
    sessionId: string;
    role: string;
    amr?: readonly string[];
    /** When the session was signed in, in milliseconds (its creation time). */
    signedInAt?: number;
  }): Promise<string> {
    const { kid, alg, keyObject } = await this.keys.currentSigningKey();
    const iat = Math.floor(this.now() / 1000);
    const header = { alg, kid, typ: TOKEN_TYPE };
    const payload = {
      sid: subject.sessionId,
      role: subject.role,
      iss: this.options.issuer,
      aud: this.options.audience,
      sub: subject.userId,
      jti: randomUUID(),
      iat,
      exp: iat + this.options.ttlSeconds,
      ...(subject.amr && subject.amr.length > 0 ? { amr: subject.amr } : {}),
      // Never after iat: the session may have started on an instance whose clock is ahead.
      ...(subject.signedInAt === undefined
        ? {}
        : { auth_time: Math.min(Math.floor(subject.signedInAt / 1000), iat) }),
    };
    const input = `${encodeSegment(header)}.${encodeSegment(payload)}`;
    const signature = cryptoSign(alg === 'EdDSA' ? null : 'sha256', Buffer.from(input), {
      key: keyObject,
      dsaEncoding: 'ieee-p1363',
    });
    return Promise.resolve(`${input}.${signature.toString('base64url')}`);
  }

  /**
   * Verifies signature and claims. Does not check the session: see SessionState.
   *
   * A token that passed once is remembered by its exact string, so the next request with it
   * skips the signature check; a hit re-checks everything that can change after the first
   * verification — the time claims against the clock now, and that the key it verified with is
   * still the store's (a retired, expired or reloaded-away key sends the token back through a
   * full verification). Everything else a full verification checks is a function of the token
   * string and that key alone, so a hit never accepts a token a full verification would refuse.
   * @throws AppError invalid_token
   */
  async verify(token: string): Promise<AccessClaims> {
    const hit = this.verifyCached(token);
    if (hit !== undefined) return hit;
    const verified = await this.verifyFully(token);
    this.verified.set(token, verified);
    return verified.claims;
  }

  /**
   * The cache half of {@link verify}, synchronously: the claims of a token that passed a full
   * verification and still passes every re-check, or undefined when only a full verification can
   * answer (never seen, or its key is no longer the store's). A cached token whose time claims
   * fail now is forgotten and refused, exactly as in verify.
   * @throws AppError invalid_token
   */
  verifyCached(token: string): AccessClaims | undefined {
    const cached = this.verified.get(token);
    if (cached === undefined) return undefined;
    if (this.keys.usable(cached.kid) !== cached.key) {
      this.verified.delete(token);
      return undefined;
    }
    try {
      this.checkTimes(cached.claims, cached.nbf);
    } catch (error) {
      this.verified.delete(token);
      throw error;
    }
    return cached.claims;
  }

  /**
   * The full check (RFC 8725): shape, header (no key injection, a kid of ours, the algorithm
   * pinned to that key), signature, typ, iss, aud, required claims, then the time claims. The
   * signature is checked with node:crypto's synchronous verify: no queueing on the libuv thread
   * pool behind password hashes (WebCrypto's verify runs there).
   */
  private async verifyFully(token: string): Promise<Verified> {
    if (!COMPACT_JWS.test(token)) throw invalidToken('not a compact JWS');
    const [encodedHeader, encodedPayload, encodedSignature] = token.split('.') as [
      string,
      string,
      string,
    ];
    let header: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(utf8.decode(base64url(encodedHeader)));
      if (!isPlainObject(parsed)) throw new TypeError('the header is not a JSON object');
      header = parsed;
    } catch {
      // Neither the error nor its message: V8's SyntaxError quotes the text around the error, a
      // piece of the Authorization header that the log of the refusal would then hold. Nor its
      // class name: the reason reaches the audit table, which is shown to administrators, and
      // reads as a leaked library error there.
      throw invalidToken('unreadable header');
    }
    for (const name of KEY_INJECTION_HEADERS) {
      if (name in header) throw invalidToken(`header ${name} is not accepted`);
    }
    for (const name of PROCESSING_HEADERS) {
      if (name in header) throw invalidToken(`header ${name} is not accepted`);
    }
    const kid = header.kid;
    if (typeof kid !== 'string' || kid.length > 128) throw invalidToken('missing kid');
    const entry = await this.keys.verificationKey(kid);
    if (!entry) throw invalidToken('unknown kid');
    if (header.alg !== entry.alg) throw invalidToken('algorithm does not match the key');

    let payload: unknown;
    try {
      const signature = canonicalSignature(encodedSignature);
      if (signature.length !== SIGNATURE_BYTES) throw new Error('signature of the wrong length');
      const signed = Buffer.from(`${encodedHeader}.${encodedPayload}`, 'ascii');
      const ok =
        entry.alg === 'EdDSA'
          ? verifySignature(null, signed, entry.keyObject, signature)
          : verifySignature(
              'sha256',
              signed,
              { key: entry.keyObject, dsaEncoding: 'ieee-p1363' },
              signature,
            );
      if (!ok) throw new Error('signature verification failed');
      payload = JSON.parse(utf8.decode(base64url(encodedPayload)));
      if (!isPlainObject(payload)) throw new Error('the claims set is not a JSON object');
      if (typeof header.typ !== 'string' || normalizeTyp(header.typ) !== normalizeTyp(TOKEN_TYPE))
        throw new Error('unexpected typ');
      for (const claim of REQUIRED_CLAIMS) {
        if (!Object.hasOwn(payload, claim)) throw new Error(`missing ${claim}`);
      }
      if (payload.iss !== this.options.issuer) throw new Error('unexpected iss');
      const { aud } = payload;
      if (
        !(typeof aud === 'string'
          ? aud === this.options.audience
          : Array.isArray(aud) && aud.includes(this.options.audience))
      )
        throw new Error('unexpected aud');
      if (typeof payload.iat !== 'number') throw new Error('iat is not a number');
      if (payload.nbf !== undefined && typeof payload.nbf !== 'number')
        throw new Error('nbf is not a number');
      if (typeof payload.exp !== 'number') throw new Error('exp is not a number');
      this.checkValidity(payload.exp, payload.nbf);
    } catch (error) {
      throw invalidToken('verification failed', error);
    }
    const { sub, sid, role, jti, iat, exp } = payload;
    const nbf = payload.nbf;
    if (
      typeof sub !== 'string' ||
      typeof sid !== 'string' ||
      typeof role !== 'string' ||
      typeof jti !== 'string' ||
      typeof iat !== 'number' ||
      typeof exp !== 'number'
    ) {
      throw invalidToken('claims of the wrong type');
    }
    const amr = readAmr(payload.amr);
    const authTime = readAuthTime(payload.auth_time, iat);
    const claims: AccessClaims = Object.freeze({
      sub,
      sid,
      role,
      jti,
      iat,
      exp,
      amr,
      authTime,
    });
    this.checkIssuedAt(iat);
    return { claims, kid, key: entry, nbf };
  }

  /** nbf and exp against the clock now, with the tolerance RFC 7519 allows for skew. */
  private checkValidity(exp: number, nbf: number | undefined): void {
    const now = Math.floor(this.now() / 1000);
    const tolerance = this.options.clockToleranceSeconds;
    if (nbf !== undefined && nbf > now + tolerance) throw new Error('not yet valid (nbf)');
    if (exp <= now - tolerance) throw new Error('expired (exp)');
  }

  private checkIssuedAt(iat: number): void {
    if (iat > Math.floor(this.now() / 1000) + this.options.clockToleranceSeconds)
      throw invalidToken('issued in the future');
  }

  /** A cache hit: the time-dependent checks of a full verification, in the same order. */
  private checkTimes(claims: AccessClaims, nbf: number | undefined): void {
    try {
      this.checkValidity(claims.exp, nbf);
    } catch (error) {
      throw invalidToken('verification failed', error);
    }
    this.checkIssuedAt(claims.iat);
  }
}

/** The `amr` claim: absent, or a short array of short strings (a signed claim of ours). */
function readAmr(value: unknown): readonly string[] {
  if (value === undefined) return NO_AMR;
  if (
    !Array.isArray(value) ||
    value.length > AMR_MAX ||
    !value.every((v) => typeof v === 'string' && v.length > 0 && v.length <= AMR_VALUE_MAX)
  ) {
    throw invalidToken('claims of the wrong type');
  }
  return Object.freeze([...(value as string[])]);
}

/** The `auth_time` claim: absent, or whole seconds no later than the token's own `iat`. */
function readAuthTime(value: unknown, iat: number): number | null {
  if (value === undefined) return null;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > iat) {
    throw invalidToken('claims of the wrong type');
  }
  return value;
}
