import {
  check,
  evidence,
  finding,
  header,
  loginBodyHint,
  type Check,
  type ScanContext,
} from '../context.js';
import type { ScanFinding } from '../types.js';

const LINE = 7;

/** Any standard or common rate-limit header on the scan's responses. */
export function rateLimitHeaderCheck(ctx: ScanContext): ScanFinding {
  const names = ['ratelimit', 'ratelimit-policy', 'ratelimit-limit', 'x-ratelimit-limit'];
  const res = ctx.seen.find((r) => names.some((name) => header(r, name) !== undefined));
  return res === undefined
    ? finding(
        'ratelimit.headers',
        LINE,
        'warn',
        'No response told the client its limit (RateLimit-* headers).',
        {
          fix: 'Send RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset (IETF draft), and Retry-After with 429.',
        },
      )
    : finding('ratelimit.headers', LINE, 'pass', 'Responses carry rate-limit headers.');
}

/**
 * An answer that stops password guessing without saying 429: 423 Locked (an account lockout), or
 * a 403 or 503 where the first wrong password got something else (a lockout or a firewall rule
 * that started blocking). Counted as "all answered", such an API was failed as not throttled.
 */
function lockedOut(status: number, first: number): boolean {
  return status === 423 || (status !== first && (status === 403 || status === 503));
}

/**
 * Password guessing is throttled: wrong-password logins, one after the other, until the API
 * answers 429 or the probe's bound is reached. Runs last: it uses up the client's auth limit.
 */
export function loginThrottleCheck(ctx: ScanContext): Check {
  return check('ratelimit.login', LINE, () => loginThrottle(ctx));
}

async function loginThrottle(ctx: ScanContext): Promise<ScanFinding> {
  const { login, loginSample } = ctx;
  if (ctx.rateLimitRequests === 0) {
    return finding(
      'ratelimit.login',
      LINE,
      'skip',
      'The login rate-limit probe was turned off (--rate-limit-requests 0).',
    );
  }
  if (login === undefined || loginSample === undefined) {
    return finding(
      'ratelimit.login',
      LINE,
      'skip',
      'No login route known (or no body for it), so password guessing was not tried: pass --login-path.',
    );
  }
  const started = Date.now();
  const body = JSON.stringify(loginSample);
  // What a wrong password got before any throttling: the body checks' first answer, if they ran
  // (they send wrong passwords too, and may already have set off a lockout).
  let first = ctx.loginBaseline?.status;
  let allInvalid = true;
  for (let attempt = 1; attempt <= ctx.rateLimitRequests; attempt += 1) {
    const res = await ctx.send({
      method: 'POST',
      path: login.path,
      headers: { 'content-type': 'application/json' },
      body,
    });
    if (attempt === 1 && (res.status === 404 || res.status === 405)) {
      return finding(
        'ratelimit.login',
        LINE,
        'skip',
        `POST ${login.path} answered ${res.status}, so it is no login route and password guessing was not tried: pass --login-path.`,
        { evidence: evidence(res) },
      );
    }
    first ??= res.status;
    if (res.status !== 400) allInvalid = false;
    if (lockedOut(res.status, first)) {
      return finding(
        'ratelimit.login',
        LINE,
        'warn',
        `Password guessing is refused after ${attempt} attempts, but with ${res.status} rather than 429: clients and tools cannot tell it is a limit, nor when to try again.`,
        {
          fix: 'Answer a throttled login with 429 and Retry-After (RFC 6585, RFC 9110 §10.2.3).',
          evidence: evidence(res),
        },
      );
    }
    if (res.status === 429) {
      return header(res, 'retry-after') === undefined
        ? finding(
            'ratelimit.login',
            LINE,
            'warn',
            `Password guessing is refused after ${attempt} attempts, but the 429 has no Retry-After.`,
            {
              fix: 'Send Retry-After with every 429.',
              evidence: evidence(res),
            },
          )
        : finding(
            'ratelimit.login',
            LINE,
            'pass',
            `Password guessing is refused after ${attempt} attempts (429 with Retry-After: ${header(res, 'retry-after')}).`,
          );
    }
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (allInvalid) {
    // Every "wrong password" was refused as an invalid body (the body built without a schema
    // has email and password; this route wants other fields): no password was ever checked,
    // so a per-account throttle could not show. Failed as "not throttled", it was a guess.
    return finding(
      'ratelimit.login',
      LINE,
      'skip',
      `All ${ctx.rateLimitRequests} login attempts were refused as invalid (400): the body built for ${login.path} is not one it takes, so no password was checked: ${loginBodyHint(ctx)}.`,
      { evidence: `POST ${login.path} × ${ctx.rateLimitRequests} → 400` },
    );
  }
  return finding(
    'ratelimit.login',
    LINE,
    'fail',
    `${ctx.rateLimitRequests} wrong-password logins in ${seconds} s were all answered: password guessing is not throttled.`,
    {
      fix: 'Limit login attempts per client and per account (429 with Retry-After).',
      evidence: `POST ${login.path} × ${ctx.rateLimitRequests}, no 429`,
    },
  );
}
