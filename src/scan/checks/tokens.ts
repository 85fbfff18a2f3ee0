import { evidence, finding, header, isSuccess, type ScanContext } from '../context.js';
import { decodeJwt, forgeTokens } from '../jwt-forge.js';
import type { ScanFinding } from '../types.js';

const LINE = 1;
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth'];
const ASYMMETRIC = /^(EdDSA|Ed25519|ES(256|384|512)|PS(256|384|512)|RS(256|384|512))$/;

/** The published keys: public halves only, each with a kid. */
export function jwksChecks(ctx: ScanContext, jwksFound: boolean): ScanFinding[] {
  if (!jwksFound) {
    return [finding('jwks.public-only', LINE, 'skip', 'No JWKS at /.well-known/jwks.json.')];
  }
  const leaking = ctx.jwks.find(
    (key) => PRIVATE_MEMBERS.some((member) => member in key) || key.kty === 'oct',
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
          evidence: 'GET /.well-known/jwks.json',
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
          },
        )
      : finding(
          'jwks.public-only',
          LINE,
          'pass',
          `The JWKS holds ${ctx.jwks.length} public key(s), each with a kid.`,
        ),
  ];
}

/** What the token given shows about how the API issues tokens. */
function claimChecks(token: string): ScanFinding[] {
  const decoded = decodeJwt(token);
  if (decoded === undefined) {
    return [
      finding(
        'jwt.claims',
        LINE,
        'skip',
        'The token given is not a JWT (opaque tokens are fine): no claims to look at.',
      ),
    ];
  }
  const { header: head, payload } = decoded;
  const problems: { status: 'warn' | 'fail'; text: string }[] = [];
  const alg = String(head.alg);
  if (!ASYMMETRIC.test(alg)) {
    problems.push({
      status: /^HS/.test(alg) ? 'warn' : 'fail',
      text: `alg ${alg}${/^HS/.test(alg) ? ': every service that verifies can also forge' : ''}`,
    });
  }
  if (typeof payload.exp !== 'number')
    problems.push({ status: 'fail', text: 'no exp: the token never expires' });
  else {
    const lifetime =
      payload.exp - (typeof payload.iat === 'number' ? payload.iat : Math.floor(Date.now() / 1000));
    if (lifetime > 86_400)
      problems.push({ status: 'fail', text: `lives ${Math.round(lifetime / 3600)} h` });
    else if (lifetime > 3600)
      problems.push({
        status: 'warn',
        text: `lives ${Math.round(lifetime / 60)} min (over an hour)`,
      });
  }
  for (const claim of ['iss', 'aud']) {
    if (payload[claim] === undefined)
      problems.push({ status: 'warn', text: `no ${claim}: tokens of other services may be taken` });
  }
  if (problems.length === 0) {
    const lifetime = (payload.exp as number) - ((payload.iat as number | undefined) ?? 0);
    return [
      finding(
        'jwt.claims',
        LINE,
        'pass',
        `The token is ${alg}-signed with iss and aud${typeof payload.iat === 'number' ? `, and lives ${Math.round(lifetime / 60)} min` : ''}.`,
      ),
    ];
  }
  return [
    finding(
      'jwt.claims',
      LINE,
      problems.some((p) => p.status === 'fail') ? 'fail' : 'warn',
      `The token given: ${problems.map((p) => p.text).join('; ')}.`,
      {
        fix: 'Sign access tokens with an asymmetric key (EdDSA, ES256), with iss, aud and an exp of 15 minutes or so.',
      },
    ),
  ];
}

/**
 * Authentication from outside: the protected route refuses a missing token and every forged
 * one, and takes no token from the URL. Needs a protected route; the token attacks need a token.
 */
export async function tokenChecks(ctx: ScanContext): Promise<ScanFinding[]> {
  const path = ctx.protectedPath;
  if (path === undefined) {
    return [
      finding(
        'auth.token-required',
        LINE,
        'skip',
        'No protected route known: pass --protected-path, or serve an OpenAPI document.',
      ),
    ];
  }
  const findings: ScanFinding[] = [];
  const anonymous = ctx.anonymous!;
  if (isSuccess(anonymous)) {
    findings.push(
      finding('auth.token-required', LINE, 'fail', `${path} answered without a token.`, {
        fix: 'Require a bearer token on every protected route.',
        evidence: evidence(anonymous),
      }),
    );
  } else if (anonymous.status !== 401) {
    findings.push(
      finding(
        'auth.token-required',
        LINE,
        'warn',
        `${path} refused a request without a token with ${anonymous.status}, not 401.`,
        {
          fix: 'Answer a missing or bad token with 401 and WWW-Authenticate: Bearer (RFC 6750).',
          evidence: evidence(anonymous),
        },
      ),
    );
  } else if (!/^bearer/i.test(header(anonymous, 'www-authenticate') ?? '')) {
    findings.push(
      finding(
        'auth.token-required',
        LINE,
        'warn',
        `${path} answers 401 without WWW-Authenticate: Bearer.`,
        {
          fix: 'Send WWW-Authenticate: Bearer with 401 (RFC 6750 §3).',
          evidence: evidence(anonymous),
        },
      ),
    );
  } else {
    findings.push(
      finding(
        'auth.token-required',
        LINE,
        'pass',
        `${path} needs a token (401 with WWW-Authenticate: Bearer).`,
      ),
    );
  }

  const token = ctx.token;
  if (token === undefined) {
    findings.push(
      finding(
        'jwt.forgery',
        LINE,
        'skip',
        'No token given: the token attacks did not run (--token-file, --token-stdin).',
      ),
    );
    return findings;
  }
  if (ctx.authed === undefined) {
    findings.push(
      finding(
        'jwt.forgery',
        LINE,
        'skip',
        `The token given was refused by ${path}, so the token attacks could not tell anything.`,
        {
          fix: 'Give the scan a fresh access token the API accepts.',
        },
      ),
    );
    return findings;
  }
  findings.push(...claimChecks(token));
  const accepted: string[] = [];
  const crashed: string[] = [];
  const forgeries = forgeTokens(token, ctx.jwks);
  for (const forgery of forgeries) {
    const res = await ctx.send({ path, headers: { authorization: `Bearer ${forgery.token}` } });
    if (isSuccess(res)) accepted.push(forgery.attack);
    else if (res.status >= 500) crashed.push(`${forgery.attack} (${res.status})`);
  }
  if (accepted.length > 0) {
    findings.push(
      finding('jwt.forgery', LINE, 'fail', `Forged tokens were accepted: ${accepted.join('; ')}.`, {
        fix: 'Verify every token: pin the algorithm list, check the signature with your own keys only (ignore jwk/jku headers), then iss, aud and exp.',
        evidence: `GET ${path} with forged tokens → 2xx`,
      }),
    );
  } else if (crashed.length > 0) {
    findings.push(
      finding(
        'jwt.forgery',
        LINE,
        'fail',
        `Forged tokens made the API fail: ${crashed.join('; ')}.`,
        {
          fix: 'Refuse a token that does not verify with 401, whatever is wrong with it.',
        },
      ),
    );
  } else {
    findings.push(
      finding(
        'jwt.forgery',
        LINE,
        'pass',
        `${forgeries.length} forged tokens were all refused (${forgeries.map((f) => f.attack).join('; ')}).`,
      ),
    );
  }

  const separator = path.includes('?') ? '&' : '?';
  const inUrl = await ctx.send({
    path: `${path}${separator}access_token=${encodeURIComponent(token)}`,
  });
  findings.push(
    isSuccess(inUrl)
      ? finding(
          'auth.token-in-url',
          3,
          'fail',
          'The API takes the access token from the URL (?access_token=): URLs end up in logs, history and Referer headers.',
          {
            fix: 'Take tokens from the Authorization header only.',
            evidence: `GET ${path}?access_token=… → ${inUrl.status}`,
          },
        )
      : finding(
          'auth.token-in-url',
          3,
          'pass',
          'A token in the URL (?access_token=) is not accepted.',
        ),
  );
  return findings;
}
