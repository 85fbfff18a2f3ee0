import { evidence, finding, header, type ScanContext } from '../context.js';
import type { ProbeResponse, ScanFinding } from '../types.js';

const LINE = 10;

/** The cookie names of the double-submit CSRF pattern, whose value the page's script reads. */
const CSRF_COOKIE = /^(?:_?csrf|csrftoken|xsrf-token|csrf-token|_csrf_token|__host-csrf)$/i;

const FRAMEWORK_HEADERS = ['x-powered-by', 'x-aspnet-version', 'x-aspnetmvc-version'] as const;
const HEADER_NAMES: Record<(typeof FRAMEWORK_HEADERS)[number], string> = {
  'x-powered-by': 'X-Powered-By',
  'x-aspnet-version': 'X-AspNet-Version',
  'x-aspnetmvc-version': 'X-AspNetMvc-Version',
};

const cookieName = (cookie: string): string => (cookie.split('=')[0] ?? '').trim();

/** A Set-Cookie value's attributes by lower-case name (RFC 6265 §5.2: each after a ";"). */
function cookieAttributes(cookie: string): Map<string, string> {
  const attributes = new Map<string, string>();
  for (const part of cookie.split(';').slice(1)) {
    const eq = part.indexOf('=');
    const name = (eq === -1 ? part : part.slice(0, eq)).trim().toLowerCase();
    if (name !== '') attributes.set(name, eq === -1 ? '' : part.slice(eq + 1).trim());
  }
  return attributes;
}

/** What is wrong with one cookie, or undefined when nothing is. */
function judgeCookie(
  cookie: string,
  https: boolean,
): { status: 'fail' | 'warn'; reason: string; fix: string } | undefined {
  const name = cookieName(cookie);
  const attributes = cookieAttributes(cookie);
  // A CSRF token for the double-submit pattern (Angular's XSRF-TOKEN, Django's csrftoken) is
  // meant to be read by the page's script: HttpOnly would break it, and is not asked of it.
  const csrf = CSRF_COOKIE.test(name);
  // A value browsers do not know (or none) is ignored by them, as if the attribute were absent.
  const sameSite = ['strict', 'lax', 'none'].find(
    (value) => value === attributes.get('samesite')?.toLowerCase(),
  );
  const secure = attributes.has('secure');
  const missing = [
    ...(attributes.has('httponly') || csrf ? [] : ['HttpOnly']),
    ...(sameSite === undefined ? ['SameSite'] : []),
    // Browsers refuse SameSite=None without Secure (over plain HTTP as well), and older ones
    // that do not know SameSite=None send the cookie cross-site in the clear.
    ...((https || sameSite === 'none') && !secure ? ['Secure'] : []),
  ];
  if (missing.length > 0) {
    return {
      status: 'fail',
      reason: `The cookie "${name}" lacks ${missing.join(' and ')}${sameSite === 'none' && !secure ? ', which SameSite=None requires: browsers refuse such a cookie' : ''}.`,
      fix: 'Set cookies with HttpOnly; Secure; SameSite=Lax (or Strict).',
    };
  }
  // SameSite=None sends the cookie with requests from any site: a session cookie so set leaves
  // cross-site request forgery to the API. The scan cannot know whether the API is embedded by
  // other sites; it accepts what it can see: a partitioned cookie (CHIPS, kept per top-level
  // site, so another site's forged request carries none) and the double-submit CSRF cookie, no
  // credential (a forged request carrying it still cannot copy it into the header it is compared
  // with).
  if (sameSite === 'none' && !csrf && !attributes.has('partitioned')) {
    return {
      status: 'warn',
      reason: `The cookie "${name}" is SameSite=None: browsers send it with requests from any site, so a forged cross-site request carries it (CSRF).`,
      fix: 'Use SameSite=Lax (or Strict). If other sites must embed the API with this cookie, add Partitioned (CHIPS), and check a CSRF token on every request that changes something.',
    };
  }
  return undefined;
}

/**
 * The first of `responses` whose header `name` fails `ok`, or undefined when every one passes.
 * Security headers belong on every response, errors included, so each sample is checked.
 */
function firstBad(
  responses: ProbeResponse[],
  name: string,
  ok: (value: string | undefined) => boolean,
): ProbeResponse | undefined {
  return responses.find((res) => !ok(header(res, name)));
}

function headerCheck(
  responses: ProbeResponse[],
  check: string,
  name: string,
  ok: (value: string | undefined) => boolean,
  messages: {
    pass: string;
    bad: (value: string | undefined) => string;
    fix: string;
    status?: 'warn' | 'fail';
  },
): ScanFinding {
  const bad = firstBad(responses, name, ok);
  if (bad === undefined) return finding(check, LINE, 'pass', messages.pass);
  return finding(check, LINE, messages.status ?? 'fail', messages.bad(header(bad, name)), {
    fix: messages.fix,
    evidence: evidence(bad),
  });
}

/** Security headers on API responses (OWASP REST Security and HTTP Headers cheat sheets). */
export function headerChecks(ctx: ScanContext): ScanFinding[] {
  const samples = [ctx.home, ctx.notFound, ctx.anonymous, ctx.authed].filter(
    (res): res is ProbeResponse => res !== undefined,
  );
  const findings: ScanFinding[] = [];
  const csp = (value: string | undefined): string[] =>
    (value ?? '')
      .toLowerCase()
      .split(';')
      .map((d) => d.trim().replace(/\s+/g, ' '));
  findings.push(
    headerCheck(samples, 'headers.csp', 'content-security-policy', (v) => v !== undefined, {
      pass: 'Content-Security-Policy is sent.',
      bad: () => 'A response has no Content-Security-Policy.',
      fix: "Send Content-Security-Policy: default-src 'none'; frame-ancestors 'none' on API responses.",
    }),
  );
  if (findings[0]!.status === 'pass') {
    const weak = samples.find(
      (res) => !csp(header(res, 'content-security-policy')).includes("default-src 'none'"),
    );
    if (weak !== undefined) {
      findings[0] = finding(
        'headers.csp',
        LINE,
        'warn',
        `Content-Security-Policy is "${header(weak, 'content-security-policy')}", not default-src 'none'.`,
        {
          fix: "An API serves no documents: default-src 'none'; frame-ancestors 'none'.",
          evidence: evidence(weak),
        },
      );
    }
  }
  findings.push(
    headerCheck(
      samples,
      'headers.nosniff',
      'x-content-type-options',
      (v) => v?.trim().toLowerCase() === 'nosniff',
      {
        pass: 'X-Content-Type-Options: nosniff is sent.',
        bad: (v) =>
          v === undefined
            ? 'A response has no X-Content-Type-Options.'
            : `X-Content-Type-Options is "${v}".`,
        fix: 'Send X-Content-Type-Options: nosniff.',
      },
    ),
  );
  findings.push(
    headerCheck(
      samples,
      'headers.framing',
      'x-frame-options',
      (v) => /^(deny|sameorigin)$/i.test(v?.trim() ?? ''),
      {
        pass: 'X-Frame-Options forbids framing.',
        bad: () => 'A response does not forbid framing (X-Frame-Options).',
        fix: "Send X-Frame-Options: DENY (and frame-ancestors 'none' in the CSP).",
      },
    ),
  );
  // Repair the framing finding when the CSP alone forbids it: that is what browsers honour now.
  const framing = findings[findings.length - 1]!;
  if (
    framing.status !== 'pass' &&
    samples.every((res) =>
      csp(header(res, 'content-security-policy')).some((d) =>
        /^frame-ancestors 'none'|^frame-ancestors 'self'/.test(d),
      ),
    )
  ) {
    findings[findings.length - 1] = finding(
      'headers.framing',
      LINE,
      'warn',
      "Framing is forbidden by the CSP's frame-ancestors, but older browsers need X-Frame-Options too.",
      { fix: 'Also send X-Frame-Options: DENY.', evidence: framing.evidence },
    );
  }
  findings.push(
    headerCheck(
      samples,
      'headers.referrer-policy',
      'referrer-policy',
      (v) => v !== undefined && !/unsafe-url|no-referrer-when-downgrade/i.test(v),
      {
        pass: 'Referrer-Policy is sent.',
        bad: (v) =>
          v === undefined ? 'A response has no Referrer-Policy.' : `Referrer-Policy is "${v}".`,
        fix: 'Send Referrer-Policy: no-referrer.',
        status: 'warn',
      },
    ),
  );
  const coop = firstBad(samples, 'cross-origin-opener-policy', (v) => v !== undefined);
  const corp = firstBad(samples, 'cross-origin-resource-policy', (v) => v !== undefined);
  findings.push(
    coop === undefined && corp === undefined
      ? finding(
          'headers.cross-origin',
          LINE,
          'pass',
          'Cross-Origin-Opener-Policy and Cross-Origin-Resource-Policy are sent.',
        )
      : finding(
          'headers.cross-origin',
          LINE,
          'warn',
          `A response has no ${coop === undefined ? '' : 'Cross-Origin-Opener-Policy'}${coop !== undefined && corp !== undefined ? ' or ' : ''}${corp === undefined ? '' : 'Cross-Origin-Resource-Policy'}.`,
          {
            fix: 'Send Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Resource-Policy: same-origin.',
            evidence: evidence(coop ?? corp!),
          },
        ),
  );
  findings.push(
    headerCheck(
      samples,
      'headers.xss-protection',
      'x-xss-protection',
      (v) => v === undefined || v.trim() === '0',
      {
        pass: 'X-XSS-Protection is absent or 0, as OWASP advises.',
        bad: (v) =>
          `X-XSS-Protection is "${v}": the old browser filter it turns on can itself be abused.`,
        fix: 'Send X-XSS-Protection: 0, or nothing.',
        status: 'warn',
      },
    ),
  );
  if (ctx.authed === undefined) {
    findings.push(
      finding(
        'headers.cache-control',
        LINE,
        'skip',
        ctx.token === undefined
          ? 'No authenticated response to look at: give the scan a token.'
          : ctx.protectedPath === undefined
            ? 'No authenticated response to look at: no protected route known (pass --protected-path, or serve an OpenAPI document).'
            : `No authenticated response to look at: the token given was refused by ${ctx.protectedPath} (give the scan a fresh access token the API accepts).`,
      ),
    );
  } else {
    findings.push(
      headerCheck(
        [ctx.authed],
        'headers.cache-control',
        'cache-control',
        (v) => /(^|,)\s*no-store\s*(,|$)/i.test(v ?? ''),
        {
          pass: 'Authenticated responses carry Cache-Control: no-store.',
          bad: (v) =>
            `An authenticated response has Cache-Control "${v ?? '(none)'}": caches may keep user data.`,
          fix: 'Send Cache-Control: no-store on authentication and user data.',
        },
      ),
    );
  }
  // X-Powered-By, and the headers ASP.NET sends with its exact version by default.
  const frameworkHeader = (res: ProbeResponse): (typeof FRAMEWORK_HEADERS)[number] | undefined =>
    FRAMEWORK_HEADERS.find((name) => header(res, name) !== undefined);
  const poweredRes = ctx.seen.find((res) => frameworkHeader(res) !== undefined);
  const powered =
    poweredRes === undefined ? undefined : { res: poweredRes, name: frameworkHeader(poweredRes)! };
  const server = ctx.seen.find((res) => /\d/.test(header(res, 'server') ?? ''));
  findings.push(
    powered === undefined && server === undefined
      ? finding('headers.fingerprint', LINE, 'pass', 'No X-Powered-By, and no version in Server.')
      : finding(
          'headers.fingerprint',
          LINE,
          'warn',
          powered === undefined
            ? `The Server header names a version ("${header(server!, 'server')}").`
            : `${HEADER_NAMES[powered.name]} tells the framework ("${header(powered.res, powered.name)}").`,
          {
            fix: 'Remove X-Powered-By (and X-AspNet-Version, X-AspNetMvc-Version) and version numbers from Server.',
            evidence: evidence(powered?.res ?? server!),
          },
        ),
  );
  const cookies = ctx.seen.flatMap((res) => {
    const value = res.headers['set-cookie'];
    return (Array.isArray(value) ? value : value === undefined ? [] : [value]).map((cookie) => ({
      res,
      cookie,
    }));
  });
  const judged = cookies.map((seen) => ({
    ...seen,
    verdict: judgeCookie(seen.cookie, ctx.client.https),
  }));
  // A cookie that fails outranks one that warns, whichever the scan met first.
  const worst =
    judged.find(({ verdict }) => verdict?.status === 'fail') ??
    judged.find(({ verdict }) => verdict !== undefined);
  if (cookies.length > 0) {
    findings.push(
      worst?.verdict === undefined
        ? finding(
            'headers.cookies',
            LINE,
            'pass',
            'Every cookie is HttpOnly and SameSite (and Secure over HTTPS).',
          )
        : finding('headers.cookies', LINE, worst.verdict.status, worst.verdict.reason, {
            fix: worst.verdict.fix,
            evidence: evidence(worst.res),
          }),
    );
  }
  return findings;
}
