import type { JsonWebKey } from 'node:crypto';
import {
  check,
  credentials,
  evidence,
  finding,
  header,
  isSuccess,
  skipped,
  type Check,
  type ScanContext,
} from '../context.js';
import {
  InspectInputError,
  inspectJwt,
  PRIVATE_JWK_MEMBERS,
  type InspectResult,
} from '../../tools/jwt-inspect.js';
import { forgeTokens } from '../jwt-forge.js';
import type { JwksLocation } from '../jwks-location.js';
import type { ProbeResponse, ScanFinding } from '../types.js';

const LINE = 1;

/** The published keys: public halves only, each with a kid. */
export function jwksChecks(ctx: ScanContext, found: JwksLocation): ScanFinding[] {
  if (found.keys === undefined) {
    return [finding('jwks.public-only', LINE, 'skip', `No JWKS found: ${found.problem ?? ''}.`)];
  }
  const shown = `GET ${found.where ?? ''}`;
  const leaking = ctx.jwks.find(
    (key) => PRIVATE_JWK_MEMBERS.some((member) => member in key) || key.kty === 'oct',
  );
  if (leaking !== undefined) {
    return [
      finding(
        'jwks.public-only',
        LINE,
        'fail',
        `The JWKS publishes private or secret key material (key ${typeof leaking.kid === 'string' ? `"${leaking.kid}"` : 'without kid'}, kty ${String(leaking.kty)}): anyone can sign tokens.`,
        {
          fix: 'Publish only public keys (no d, p, q, dp, dq, qi, k); rotate every key that was exposed.',
          evidence: shown,
        },
      ),
    ];
  }
  const withoutKid = ctx.jwks.filter((key) => typeof key.kid !== 'string').length;
  return [
    withoutKid > 0
      ? finding(
          'jwks.public-only',
          LINE,
          'warn',
          `The JWKS holds only public keys, but ${withoutKid} of ${ctx.jwks.length} have no kid.`,
          {
            fix: 'Give every key a kid, so verifiers pick it without trying each one and rotation works.',
            evidence: shown,
          },
        )
      : finding(
          'jwks.public-only',
          LINE,
          'pass',
          `The JWKS holds ${ctx.jwks.length} public key(s), each with a kid.`,
          { evidence: shown },
        ),
  ];
}

/**
 * What the token given shows about how the API issues tokens: the JWT verifier's checks (alg,
 * lifetime, iss, aud …), with its signature checked against the JWKS the API publishes.
 */
async function claimCheck(
  token: string,
  jwks: JsonWebKey[],
  authHeader: string | undefined,
): Promise<ScanFinding> {
  // The public halves only (a JWKS that leaks private keys is jwks.public-only's finding).
  const publicKeys = jwks
    .filter((key) => key.kty !== 'oct')
    .map((key) =>
      Object.fromEntries(
        Object.entries(key).filter(([name]) => !PRIVATE_JWK_MEMBERS.includes(name)),
      ),
    );
  let result: InspectResult;
  try {
    result = await inspectJwt(
      token,
      publicKeys.length === 0 ? {} : { key: { jwks: JSON.stringify({ keys: publicKeys }) } },
    );
  } catch (error) {
    if (error instanceof InspectInputError && error.field === 'token') {
      return finding(
        'jwt.claims',
        LINE,
        'skip',
        authHeader === undefined
          ? 'The token given is not a JWT (opaque tokens are fine): no claims to look at.'
          : `The token given in ${authHeader} is not a JWT (an API key): no claims to look at, and no token to forge.`,
      );
    }
    throw error;
  }
  // Without a JWKS there is nothing to check the signature with; that is no finding about the API.
  const problems = result.findings.filter(
    (f) => f.status !== 'pass' && !(f.check === 'signature' && result.signatureValid === null),
  );
  if (problems.length === 0) {
    const alg = String(result.header?.alg);
    const lifetime = result.findings.find((f) => f.check === 'lifetime')?.message ?? '';
    return finding(
      'jwt.claims',
      LINE,
      'pass',
      `The token is ${alg}-signed${result.signatureValid ? ' (verified with the published JWKS)' : ''} with iss, aud and exp. ${lifetime}`.trim(),
    );
  }
  return finding(
    'jwt.claims',
    LINE,
    problems.some((p) => p.status === 'fail') ? 'fail' : 'warn',
    `The token given: ${problems.map((p) => p.message.replace(/\.$/, '')).join('; ')}.`,
    {
      fix: 'Sign access tokens with an asymmetric key (EdDSA, ES256), with typ at+jwt, iss, aud, sub, jti and an exp of 15 minutes or so.',
    },
  );
}

/**
 * Authentication from outside: the protected route refuses a missing token and every forged
 * one, and takes no token from the URL. Needs a protected route; the token attacks need a token.
 */
export function tokenChecks(ctx: ScanContext): Check[] {
  const path = ctx.protectedPath;
  // Line 3's one check is skipped, not left out, when it cannot run: a line without findings is
  // reported as one that "cannot be seen from outside", and this one can.
  const inUrlSkipped = (reason: string): Check => skipped('auth.token-in-url', 3, reason);
  if (path === undefined) {
    const reason = 'No protected route known: pass --protected-path, or serve an OpenAPI document.';
    return [skipped('auth.token-required', LINE, reason), inUrlSkipped(reason)];
  }
  const required = check('auth.token-required', LINE, () =>
    tokenRequiredCheck(ctx, path, ctx.anonymous!),
  );
  const sentIn = ctx.authHeader === undefined ? '' : ` (sent in ${ctx.authHeader})`;
  const token = ctx.token;
  if (token === undefined) {
    return [
      required,
      skipped(
        'jwt.forgery',
        LINE,
        'No token given: the token attacks did not run (--token-file, --token-stdin).',
      ),
      inUrlSkipped(
        'No token given, so a token in the URL was not tried (--token-file, --token-stdin).',
      ),
    ];
  }
  if (ctx.authed === undefined) {
    return [
      required,
      skipped(
        'jwt.forgery',
        LINE,
        `The token given${sentIn} was refused by ${path}, so the token attacks could not tell anything.`,
        { fix: 'Give the scan a fresh access token the API accepts.' },
      ),
      inUrlSkipped(
        `The token given${sentIn} was refused by ${path}, so a token in the URL could not tell anything.`,
      ),
    ];
  }
  return [
    required,
    check('jwt.claims', LINE, () => claimCheck(token, ctx.jwks, ctx.authHeader)),
    check('jwt.forgery', LINE, () => forgeryCheck(ctx, path, token)),
    check('auth.token-in-url', 3, () => tokenInUrlCheck(ctx, path, token)),
  ];
}

function tokenRequiredCheck(ctx: ScanContext, path: string, anonymous: ProbeResponse): ScanFinding {
  const apiKey = ctx.authHeader;
  if (isSuccess(anonymous)) {
    return finding('auth.token-required', LINE, 'fail', `${path} answered without a token.`, {
      fix:
        apiKey === undefined
          ? 'Require a bearer token on every protected route.'
          : `Require ${apiKey} on every protected route.`,
      evidence: evidence(anonymous),
    });
  }
  if (anonymous.status !== 401) {
    return finding(
      'auth.token-required',
      LINE,
      'warn',
      `${path} refused a request without a token with ${anonymous.status}, not 401.`,
      {
        fix:
          apiKey === undefined
            ? 'Answer a missing or bad token with 401 and WWW-Authenticate: Bearer (RFC 6750).'
            : `Answer a missing or bad ${apiKey} with 401 (403 says the caller is known but not allowed).`,
        evidence: evidence(anonymous),
      },
    );
  }
  // An API key has no registered authentication scheme to name in WWW-Authenticate (RFC 9110
  // §11.6.1 asks for one; API-key APIs rarely send any): a 401 is the answer that matters.
  if (apiKey !== undefined) {
    return finding(
      'auth.token-required',
      LINE,
      'pass',
      `${path} needs ${apiKey} (401 without it).`,
    );
  }
  if (!/^bearer/i.test(header(anonymous, 'www-authenticate') ?? '')) {
    return finding(
      'auth.token-required',
      LINE,
      'warn',
      `${path} answers 401 without WWW-Authenticate: Bearer.`,
      {
        fix: 'Send WWW-Authenticate: Bearer with 401 (RFC 6750 §3).',
        evidence: evidence(anonymous),
      },
    );
  }
  return finding(
    'auth.token-required',
    LINE,
    'pass',
    `${path} needs a token (401 with WWW-Authenticate: Bearer).`,
  );
}

/** Tokens forged from the one given (see forgeTokens): every one must be refused. */
async function forgeryCheck(ctx: ScanContext, path: string, token: string): Promise<ScanFinding> {
  const accepted: string[] = [];
  const crashed: string[] = [];
  const forgeries = forgeTokens(token, ctx.jwks);
  if (forgeries.length === 0) {
    // An opaque token or a JWE: nothing to forge from. "0 forged tokens were all refused" passed.
    return finding(
      'jwt.forgery',
      LINE,
      'skip',
      'The token given is not a signed JWT (an opaque token or a JWE), so no token could be forged from it.',
    );
  }
  for (const forgery of forgeries) {
    const res = await ctx.send({ path, headers: credentials(ctx, forgery.token) });
    if (isSuccess(res)) accepted.push(forgery.attack);
    else if (res.status >= 500) crashed.push(`${forgery.attack} (${res.status})`);
  }
  if (accepted.length > 0) {
    return finding(
      'jwt.forgery',
      LINE,
      'fail',
      `Forged tokens were accepted: ${accepted.join('; ')}.`,
      {
        fix: 'Verify every token: pin the algorithm list, check the signature with your own keys only (ignore jwk/jku headers), then iss, aud and exp.',
        evidence: `GET ${path} with forged tokens → 2xx`,
      },
    );
  }
  if (crashed.length > 0) {
    return finding(
      'jwt.forgery',
      LINE,
      'fail',
      `Forged tokens made the API fail: ${crashed.join('; ')}.`,
      {
        fix: 'Refuse a token that does not verify with 401, whatever is wrong with it.',
      },
    );
  }
  return finding(
    'jwt.forgery',
    LINE,
    'pass',
    `${forgeries.length} forged tokens were all refused (${forgeries.map((f) => f.attack).join('; ')}).`,
  );
}

/**
 * Query parameters that carry a token: RFC 6750's `access_token`, and the `token` that
 * hand-written extractors use (passport-jwt's fromUrlQueryParameter('token'), WebSocket APIs).
 */
const TOKEN_PARAMETERS = ['access_token', 'token'] as const;

/**
 * ... and those that carry an API key: `api_key` and `apikey` (OpenAPI's own examples, API
 * gateways), `key` (Google's APIs), then the header's own name (`?x-api-key=`, which some
 * gateways take as well).
 */
const API_KEY_PARAMETERS = ['api_key', 'apikey', 'key', 'token', 'access_token'] as const;

function tokenParameters(authHeader: string | undefined): readonly string[] {
  if (authHeader === undefined) return TOKEN_PARAMETERS;
  return [...new Set<string>([...API_KEY_PARAMETERS, authHeader.toLowerCase()])];
}

/** The token given, in the query string instead of the header, must be refused. */
async function tokenInUrlCheck(
  ctx: ScanContext,
  path: string,
  token: string,
): Promise<ScanFinding> {
  const separator = path.includes('?') ? '&' : '?';
  const parameters = tokenParameters(ctx.authHeader);
  for (const name of parameters) {
    const inUrl = await ctx.send({
      path: `${path}${separator}${name}=${encodeURIComponent(token)}`,
      // The label names the request in errors and evidence: the path itself carries the token.
      label: `${path}${separator}${name}=…`,
    });
    if (isSuccess(inUrl)) {
      return finding(
        'auth.token-in-url',
        3,
        'fail',
        `The API takes the ${ctx.authHeader === undefined ? 'access token' : 'API key'} from the URL (?${name}=): URLs end up in logs, history and Referer headers.`,
        {
          fix:
            ctx.authHeader === undefined
              ? 'Take tokens from the Authorization header only.'
              : `Take the API key from the ${ctx.authHeader} header only.`,
          evidence: evidence(inUrl),
        },
      );
    }
  }
  return finding(
    'auth.token-in-url',
    3,
    'pass',
    `A token in the URL (${parameters.map((name) => `?${name}=`).join(', ')}) is not accepted.`,
  );
}
