import { randomUUID } from 'node:crypto';
import { decodeProtectedHeader, jwtVerify, SignJWT, type JWTHeaderParameters } from 'jose';
import { AppError } from '../errors.js';
import type { SigningKeyStore } from './signing-keys.js';

/** The claims of a Bulwark access token (RFC 9068 profile). */
export interface AccessClaims {
  sub: string;
  sid: string;
  role: string;
  jti: string;
  iat: number;
  exp: number;
}

export interface AccessTokenOptions {
  issuer: string;
  audience: string;
  ttlSeconds: number;
  clockToleranceSeconds: number;
  now?: () => number;
}

const TOKEN_TYPE = 'at+jwt';
/** Header parameters that would let a token pick its own verification key: never honoured. */
const KEY_INJECTION_HEADERS = ['jku', 'jwk', 'x5u', 'x5c'] as const;
/** Compact JWS: three base64url parts. Anything else is refused before any parsing. */
const COMPACT_JWS = /^[A-Za-z0-9_-]{2,4096}\.[A-Za-z0-9_-]{2,8192}\.[A-Za-z0-9_-]{2,1024}$/;

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

  constructor(
    private readonly keys: SigningKeyStore,
    private readonly options: AccessTokenOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  get ttlSeconds(): number {
    return this.options.ttlSeconds;
  }

  /** Signs a token for a session. */
  async issue(subject: { userId: string; sessionId: string; role: string }): Promise<string> {
    const { kid, alg, key } = this.keys.signingKey();
    const iat = Math.floor(this.now() / 1000);
    return new SignJWT({ sid: subject.sessionId, role: subject.role })
      .setProtectedHeader({ alg, kid, typ: TOKEN_TYPE })
      .setIssuer(this.options.issuer)
      .setAudience(this.options.audience)
      .setSubject(subject.userId)
      .setJti(randomUUID())
      .setIssuedAt(iat)
      .setExpirationTime(iat + this.options.ttlSeconds)
      .sign(key);
  }

  /**
   * Verifies signature and claims. Does not check the session: see SessionState.
   * @throws AppError invalid_token
   */
  async verify(token: string): Promise<AccessClaims> {
    if (!COMPACT_JWS.test(token)) throw invalidToken('not a compact JWS');
    let header: JWTHeaderParameters;
    try {
      header = decodeProtectedHeader(token) as JWTHeaderParameters;
    } catch (error) {
      throw invalidToken('unreadable header', error);
    }
    for (const name of KEY_INJECTION_HEADERS) {
      if (name in header) throw invalidToken(`header ${name} is not accepted`);
    }
    if (typeof header.kid !== 'string' || header.kid.length > 128)
      throw invalidToken('missing kid');
    const entry = await this.keys.verificationKey(header.kid);
    if (!entry) throw invalidToken('unknown kid');
    if (header.alg !== entry.alg) throw invalidToken('algorithm does not match the key');

    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, entry.key, {
        algorithms: [entry.alg],
        issuer: this.options.issuer,
        audience: this.options.audience,
        typ: TOKEN_TYPE,
        requiredClaims: ['exp', 'iat', 'sub', 'jti'],
        clockTolerance: this.options.clockToleranceSeconds,
        currentDate: new Date(this.now()),
      }));
    } catch (error) {
      throw invalidToken('verification failed', error);
    }
    const { sub, sid, role, jti, iat, exp } = payload;
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
    if (iat > Math.floor(this.now() / 1000) + this.options.clockToleranceSeconds) {
      throw invalidToken('issued in the future');
    }
    return { sub, sid, role, jti, iat, exp };
  }
}
