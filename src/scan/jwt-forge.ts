import {
  createHmac,
  createPublicKey,
  generateKeyPairSync,
  sign,
  type JsonWebKey,
} from 'node:crypto';
import { isObject } from '../tools/jwt-inspect.js';

/** A compact JWS split into its parts; the header and payload decoded. */
export interface DecodedJwt {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  signature: Buffer;
}

const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Decodes a compact JWS without verifying it; undefined when it is not one. */
export function decodeJwt(token: string): DecodedJwt | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as unknown;
    const payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as unknown;
    if (!isObject(header) || !isObject(payload)) return undefined;
    return { header, payload, signature: Buffer.from(parts[2]!, 'base64url') };
  } catch {
    return undefined;
  }
}

/** A token built by the scan to attack the API's verifier: it must be refused. */
export interface Forgery {
  /** What it tries, for the report ("alg none"). */
  attack: string;
  token: string;
}

function hs256(header: Record<string, unknown>, payload: unknown, secret: Buffer | string): string {
  const input = `${encode({ ...header, alg: 'HS256' })}.${encode(payload)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

/**
 * Tokens that a correct verifier refuses and a broken one accepts, each made from the valid
 * `token` the scan was given: the classic JWT attacks (RFC 8725 §2, OWASP JWT cheat sheet).
 * `jwks` are the public keys the API publishes, for the key-confusion attack.
 */
export function forgeTokens(token: string, jwks: JsonWebKey[]): Forgery[] {
  const decoded = decodeJwt(token);
  if (decoded === undefined) return [];
  const { header, payload } = decoded;
  const [rawHeader, rawPayload, rawSignature] = token.split('.') as [string, string, string];
  const forgeries: Forgery[] = [];

  // 1. No signature at all: alg "none", in two spellings.
  for (const alg of ['none', 'nOnE']) {
    forgeries.push({
      attack: `alg "${alg}" with no signature`,
      token: `${encode({ ...header, alg })}.${rawPayload}.`,
    });
  }
  // 2. The real signature with one byte changed.
  const signature = Buffer.from(decoded.signature);
  if (signature.length > 0) {
    signature[0] = signature[0]! ^ 0x01;
    forgeries.push({
      attack: 'one byte of the signature changed',
      token: `${rawHeader}.${rawPayload}.${signature.toString('base64url')}`,
    });
  }
  // 3. The real signature over a changed payload: a day more of life, the role raised.
  const raised: Record<string, unknown> = { ...payload };
  if (typeof raised.exp === 'number') raised.exp += 86_400;
  if (typeof raised.role === 'string') raised.role = 'admin';
  else raised.admin = true;
  forgeries.push({
    attack: 'payload changed (exp + 1 day, role admin) under the original signature',
    token: `${rawHeader}.${encode(raised)}.${rawSignature}`,
  });
  // 4. Algorithm confusion: HS256 keyed with the API's own public key, as the PEM text a broken
  // verifier hands to HMAC: with its final newline (a .pem file) and without (a key kept in an
  // environment variable), and for RSA also as PKCS#1 ("BEGIN RSA PUBLIC KEY").
  for (const jwk of jwks.slice(0, 3)) {
    if (jwk.kty === 'oct') continue;
    const pems: { form: string; pem: string }[] = [];
    try {
      const key = createPublicKey({ key: jwk, format: 'jwk' });
      const spki = key.export({ type: 'spki', format: 'pem' }) as string;
      pems.push(
        { form: 'PEM', pem: spki },
        { form: 'PEM without its final newline', pem: spki.trimEnd() },
      );
      if (key.asymmetricKeyType === 'rsa') {
        const pkcs1 = key.export({ type: 'pkcs1', format: 'pem' }) as string;
        pems.push({ form: 'PKCS#1 PEM', pem: pkcs1 });
      }
    } catch {
      continue;
    }
    const kidHeader = { ...header, ...(typeof jwk.kid === 'string' ? { kid: jwk.kid } : {}) };
    for (const { form, pem } of pems) {
      forgeries.push({
        attack: `HS256 keyed with the published public key${typeof jwk.kid === 'string' ? ` "${jwk.kid}"` : ''} (${form})`,
        token: hs256(kidHeader, payload, pem),
      });
    }
  }
  // 5. The token brings its own key: an embedded JWK of the attacker's, and a jku to fetch one.
  const attacker = generateKeyPairSync('ed25519');
  const embedded = { ...header, alg: 'EdDSA', jwk: attacker.publicKey.export({ format: 'jwk' }) };
  const embeddedInput = `${encode(embedded)}.${rawPayload}`;
  forgeries.push({
    attack: "signed with the attacker's own key, embedded as the jwk header",
    token: `${embeddedInput}.${sign(null, Buffer.from(embeddedInput), attacker.privateKey).toString('base64url')}`,
  });
  // 6. A kid that points at a file or an injection, with the HMAC key that file would give.
  forgeries.push({
    attack: 'kid "../../../../../../dev/null" with an empty HS256 key',
    token: hs256({ ...header, kid: '../../../../../../dev/null' }, payload, ''),
  });
  forgeries.push({
    attack: 'kid "x\' UNION SELECT \'k\' --" with the HS256 key "k"',
    token: hs256({ ...header, kid: "x' UNION SELECT 'k' --" }, payload, 'k'),
  });
  return forgeries;
}
