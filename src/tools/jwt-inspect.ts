import { createPublicKey, createSecretKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { compactVerify, createLocalJWKSet, errors, type JSONWebKeySet } from 'jose';

/**
 * The JWT verifier of the tools: decodes a token, checks its signature with the key material
 * given (a JWKS, a PEM public key, or an HMAC secret), checks its claims, and lints it against
 * RFC 8725 (JWT best current practice) and RFC 9068 (access tokens). Every problem is listed,
 * not only the first.
 */

export type InspectStatus = 'pass' | 'warn' | 'fail';

/** One check of a token (signature, a claim, an RFC 8725 practice) and its verdict. */
export interface InspectFinding {
  check: string;
  status: InspectStatus;
  message: string;
}

/** The key to verify a token with: a JWKS or JWK, a PEM key or certificate, or an HMAC secret. */
export interface KeyMaterial {
  /** A JWKS document (`{"keys": [...]}`) or a single JWK, as JSON text. */
  jwks?: string;
  /** A PEM public key or certificate. */
  pem?: string;
  /** An HMAC secret (HS256/384/512), as UTF-8 text. */
  secret?: string;
}

/** What inspectJwt checks the token against: a key, the expected issuer and audience, the clock. */
export interface InspectOptions {
  key?: KeyMaterial;
  /** The issuer the token must name (`iss`). */
  issuer?: string;
  /** The audience the token must name (`aud`). */
  audience?: string;
  /** Tolerance for exp, nbf and iat, in seconds (default 0). */
  clockToleranceSeconds?: number;
  now?: Date;
}

/** What inspectJwt found: the decoded parts, whether the signature verified, and each check. */
export interface InspectResult {
  header: Record<string, unknown> | null;
  payload: Record<string, unknown> | null;
  /** Whether the signature verified with the key given: null when no key was given. */
  signatureValid: boolean | null;
  /** The overall verdict: `valid` only with a verified signature and no failed check. */
  verdict: 'valid' | 'invalid' | 'unverified';
  findings: InspectFinding[];
}

/** The token or key material cannot be used at all (not a JWS, a key that does not parse). */
export class InspectInputError extends Error {
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
    this.name = 'InspectInputError';
  }
}

const ASYMMETRIC = [
  'EdDSA',
  'Ed25519',
  'ES256',
  'ES384',
  'ES512',
  'PS256',
  'PS384',
  'PS512',
  'RS256',
  'RS384',
  'RS512',
];
const HMAC = ['HS256', 'HS384', 'HS512'];
const DANGEROUS_HEADERS = ['jku', 'jwk', 'x5u', 'x5c'];
const B64URL = /^[A-Za-z0-9_-]*$/;

/** JWK members that only private or secret keys have (RFC 7518 §6.2.2, §6.3.2, §6.4.1). */
export const PRIVATE_JWK_MEMBERS: readonly string[] = Object.freeze([
  'd',
  'p',
  'q',
  'dp',
  'dq',
  'qi',
  'oth',
  'k',
]);

/** A JSON object (not null, not an array): what a parsed document's maps are checked with. */
export const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function decodePart(part: string, field: string, what: string): Record<string, unknown> {
  if (!B64URL.test(part)) throw new InspectInputError(`The ${what} is not base64url.`, field);
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw new InspectInputError(`The ${what} is not JSON once decoded.`, field);
  }
  if (!isObject(value)) throw new InspectInputError(`The ${what} is not a JSON object.`, field);
  return value;
}

type Verifier = Parameters<typeof compactVerify>[1];

/** The key(s) to verify with, from the material given; undefined when none was given. */
function verifierOf(
  key: KeyMaterial | undefined,
): { verifier: Verifier; algorithms: string[] } | undefined {
  if (key?.jwks !== undefined && key.jwks.trim() !== '') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(key.jwks);
    } catch {
      throw new InspectInputError('The JWKS is not JSON.', 'key.jwks');
    }
    if (!isObject(parsed) || (typeof parsed.kty !== 'string' && !Array.isArray(parsed.keys))) {
      throw new InspectInputError('The JWKS is neither {"keys": [...]} nor one JWK.', 'key.jwks');
    }
    const single = typeof parsed.kty === 'string';
    const keys: Record<string, unknown>[] = single
      ? [parsed]
      : (parsed.keys as unknown[]).filter(isObject);
    if (keys.some((k) => PRIVATE_JWK_MEMBERS.some((m) => m in k))) {
      throw new InspectInputError(
        'The JWKS holds private or secret key material: verify with the public keys only.',
        'key.jwks',
      );
    }
    if (single) {
      // One key pasted: verify with it, whatever kid the token names.
      try {
        return {
          verifier: createPublicKey({ key: parsed as JsonWebKey, format: 'jwk' }),
          algorithms: ASYMMETRIC,
        };
      } catch {
        throw new InspectInputError(
          'The JWK is not a public key this verifier can use.',
          'key.jwks',
        );
      }
    }
    try {
      return {
        verifier: createLocalJWKSet(parsed as unknown as JSONWebKeySet),
        algorithms: ASYMMETRIC,
      };
    } catch {
      // jose refuses a set whose keys are not all JSON objects.
      throw new InspectInputError('The JWKS has keys that are not JWKs.', 'key.jwks');
    }
  }
  if (key?.pem !== undefined && key.pem.trim() !== '') {
    // createPublicKey would quietly derive the public half of a private key: refuse it instead,
    // as a JWKS with private members is refused, so nobody gets used to pasting private keys.
    if (/-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----/.test(key.pem))
      throw new InspectInputError(
        'The PEM is a private key: verify with the public key only.',
        'key.pem',
      );
    let publicKey: KeyObject;
    try {
      publicKey = createPublicKey(key.pem);
    } catch {
      throw new InspectInputError('The PEM is not a public key or certificate.', 'key.pem');
    }
    if (publicKey.type !== 'public')
      throw new InspectInputError('The PEM is not a public key.', 'key.pem');
    return { verifier: publicKey, algorithms: ASYMMETRIC };
  }
  if (key?.secret !== undefined && key.secret !== '') {
    return { verifier: createSecretKey(Buffer.from(key.secret, 'utf8')), algorithms: HMAC };
  }
  return undefined;
}

function signatureMessage(error: unknown): string {
  if (error instanceof errors.JWSSignatureVerificationFailed)
    return 'The signature does not match: the token was changed, or signed with another key.';
  if (error instanceof errors.JWKSNoMatchingKey)
    return 'No key in the JWKS matches the token (kid, kty and alg).';
  if (error instanceof errors.JWKSMultipleMatchingKeys)
    return 'Several keys in the JWKS match the token and none verifies it.';
  if (error instanceof errors.JOSEAlgNotAllowed)
    return "The token's alg does not fit the key given (an HMAC secret needs HS*, a public key an asymmetric alg).";
  if (error instanceof errors.JOSENotSupported)
    return "The token's alg or key type is not supported.";
  if (error instanceof errors.JWSInvalid) return 'The token is not a valid JWS.';
  return 'The signature could not be checked with the key given.';
}

/**
 * The three parts of a compact JWS and its decoded header and payload (a `Bearer ` prefix and
 * surrounding whitespace dropped); throws InspectInputError when `token` is not one.
 * @see https://www.rfc-editor.org/rfc/rfc7515#section-7.1
 */
export function decodeJws(token: string): {
  parts: string[];
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
} {
  const parts = token
    .trim()
    .replace(/^Bearer\s+/i, '')
    .split('.');
  if (parts.length === 5)
    throw new InspectInputError(
      'This is an encrypted JWT (JWE, five parts): it cannot be read without the private key.',
      'token',
    );
  if (parts.length !== 3)
    throw new InspectInputError(
      `A JWT has three parts separated by dots; this has ${parts.length}.`,
      'token',
    );
  const header = decodePart(parts[0]!, 'token', 'header');
  const payload = decodePart(parts[1]!, 'token', 'payload');
  if (!B64URL.test(parts[2]!))
    throw new InspectInputError('The signature is not base64url.', 'token');
  return { parts, header, payload };
}

/** Inspects `token`; throws InspectInputError when it or the key cannot be used at all. */
export async function inspectJwt(
  token: string,
  options: InspectOptions = {},
): Promise<InspectResult> {
  const { parts, header, payload } = decodeJws(token);
  const findings: InspectFinding[] = [];
  const add = (check: string, status: InspectStatus, message: string): void => {
    findings.push({ check, status, message });
  };
  const now = Math.floor((options.now ?? new Date()).getTime() / 1000);
  const tolerance = options.clockToleranceSeconds ?? 0;

  // Signature.
  const alg = typeof header.alg === 'string' ? header.alg : undefined;
  let signatureValid: boolean | null = null;
  if (alg === undefined) add('alg', 'fail', 'The header has no alg.');
  else if (alg.toLowerCase() === 'none')
    add(
      'alg',
      'fail',
      'alg is "none": the token is not signed, anyone can write one. A verifier must refuse it.',
    );
  else if (HMAC.includes(alg))
    add(
      'alg',
      'warn',
      `alg is ${alg}: a shared secret, so every service that verifies these tokens can also forge them. Prefer EdDSA or ES256.`,
    );
  else if (ASYMMETRIC.includes(alg)) add('alg', 'pass', `alg is ${alg} (asymmetric).`);
  else add('alg', 'fail', `alg "${alg}" is not a JWS signature algorithm.`);
  const verifier = verifierOf(options.key);
  if (verifier === undefined) {
    add(
      'signature',
      'warn',
      'No key given: the signature was not checked, so nothing in this token can be trusted yet.',
    );
  } else if (alg !== undefined && alg.toLowerCase() !== 'none') {
    try {
      await compactVerify(parts.join('.'), verifier.verifier as never, {
        algorithms: verifier.algorithms,
      });
      signatureValid = true;
      add('signature', 'pass', 'The signature verifies with the key given.');
    } catch (error) {
      signatureValid = false;
      add('signature', 'fail', signatureMessage(error));
    }
  } else {
    signatureValid = false;
    add('signature', 'fail', 'An unsigned token never verifies.');
  }

  // Header lint (RFC 8725 §3.1, §3.10; RFC 7515 §4.1.11).
  const dangerous = DANGEROUS_HEADERS.filter((name) => name in header);
  if (dangerous.length > 0) {
    add(
      'header',
      'warn',
      `The header carries ${dangerous.join(', ')}: a verifier must never take its key from the token itself.`,
    );
  }
  if (Array.isArray(header.crit))
    add(
      'header',
      'warn',
      `The header marks ${header.crit.map(String).join(', ')} as critical: a verifier that does not know them must refuse the token.`,
    );
  if (typeof header.kid !== 'string')
    add('kid', 'warn', 'No kid: verifiers cannot pick the key, and key rotation gets hard.');
  const typ = typeof header.typ === 'string' ? header.typ.toLowerCase() : undefined;
  if (typ === 'at+jwt' || typ === 'application/at+jwt')
    add(
      'typ',
      'pass',
      'typ is at+jwt: an access token (RFC 9068), which no ID token can be mistaken for.',
    );
  else
    add(
      'typ',
      'warn',
      `typ is ${typ === undefined ? 'missing' : `"${String(header.typ)}"`}: access tokens should say at+jwt (RFC 9068) so that other JWTs (ID tokens) are not taken for them.`,
    );

  // Claims.
  const numeric = (name: string): number | undefined => {
    const value = payload[name];
    return typeof value === 'number' ? value : undefined;
  };
  const exp = numeric('exp');
  const nbf = numeric('nbf');
  const iat = numeric('iat');
  // A NumericDate may be any JSON number; Date covers ±8.64e15 ms, so say so instead of throwing.
  const when = (seconds: number): string => {
    const date = new Date(seconds * 1000);
    return Number.isNaN(date.getTime()) ? `${seconds} (beyond any date)` : date.toISOString();
  };
  if (payload.exp !== undefined && exp === undefined) add('exp', 'fail', 'exp is not a number.');
  else if (exp === undefined) add('exp', 'fail', 'No exp: the token never expires.');
  else if (exp + tolerance <= now)
    add('exp', 'fail', `Expired at ${when(exp)} (${Math.round((now - exp) / 60)} min ago).`);
  else add('exp', 'pass', `Expires at ${when(exp)} (in ${Math.round((exp - now) / 60)} min).`);
  // RFC 7519 §4.1.5-6: NumericDates; a verifier (jose's too) refuses any other type.
  if (payload.nbf !== undefined && nbf === undefined) add('nbf', 'fail', 'nbf is not a number.');
  if (payload.iat !== undefined && iat === undefined) add('iat', 'fail', 'iat is not a number.');
  if (nbf !== undefined && nbf - tolerance > now)
    add('nbf', 'fail', `Not valid before ${when(nbf)}.`);
  if (iat !== undefined && iat - tolerance > now + 60)
    add(
      'iat',
      'fail',
      `Issued in the future (${when(iat)}): the issuer's clock is wrong, or the token is forged.`,
    );
  if (exp !== undefined && iat !== undefined) {
    const lifetime = exp - iat;
    if (lifetime <= 0)
      add('lifetime', 'fail', 'Expires before (or when) it was issued: exp is not after iat.');
    else if (lifetime > 86_400)
      add(
        'lifetime',
        'fail',
        `Lives ${Math.round(lifetime / 3600)} h: a stolen access token stays useful that long. Keep it to minutes and refresh.`,
      );
    else if (lifetime > 3600)
      add(
        'lifetime',
        'warn',
        `Lives ${Math.round(lifetime / 60)} min: over an hour for an access token.`,
      );
    else add('lifetime', 'pass', `Lives ${Math.round(lifetime / 60)} min.`);
  }
  if (options.issuer !== undefined && options.issuer !== '') {
    if (payload.iss === options.issuer) add('iss', 'pass', `iss is "${options.issuer}".`);
    else
      add(
        'iss',
        'fail',
        `iss is ${payload.iss === undefined ? 'missing' : JSON.stringify(payload.iss)}, not "${options.issuer}".`,
      );
  } else if (payload.iss === undefined)
    add('iss', 'warn', 'No iss: a verifier cannot tell whose token this is.');
  const aud: unknown = payload.aud;
  const audiences = (Array.isArray(aud) ? (aud as unknown[]) : aud === undefined ? [] : [aud]).map(
    (value) => (typeof value === 'string' ? value : JSON.stringify(value)),
  );
  if (options.audience !== undefined && options.audience !== '') {
    if (audiences.includes(options.audience))
      add('aud', 'pass', `aud includes "${options.audience}".`);
    else
      add(
        'aud',
        'fail',
        `aud is ${audiences.length === 0 ? 'missing' : JSON.stringify(payload.aud)}, not "${options.audience}": a token for another service.`,
      );
  } else if (audiences.length === 0)
    add('aud', 'warn', 'No aud: any service trusting this issuer would take the token.');
  if (payload.sub === undefined) add('sub', 'warn', 'No sub: the token names nobody.');
  if (payload.jti === undefined)
    add('jti', 'warn', 'No jti: single tokens cannot be revoked or told apart in logs.');

  const failed = findings.some((f) => f.status === 'fail');
  return {
    header,
    payload,
    signatureValid,
    verdict:
      signatureValid === true && !failed
        ? 'valid'
        : signatureValid === null && !failed
          ? 'unverified'
          : 'invalid',
    findings,
  };
}
