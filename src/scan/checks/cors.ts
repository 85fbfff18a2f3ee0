import {
  check,
  credentials as credentialHeaders,
  evidence,
  finding,
  header,
  type Check,
  type ScanContext,
} from '../context.js';
import type { ProbeResponse, ScanFinding } from '../types.js';

const LINE = 14;

function judge(check: string, res: ProbeResponse, origin: string, what: string): ScanFinding {
  const allowed = header(res, 'access-control-allow-origin')?.trim();
  const credentials =
    header(res, 'access-control-allow-credentials')?.trim().toLowerCase() === 'true';
  if (allowed !== undefined && allowed === origin && !credentials) {
    // Without credentials the browser sends no cookies and reads only what anyone could fetch:
    // reflecting every origin is `*` under another name, and warns like it.
    return finding(
      check,
      LINE,
      'warn',
      `${what} The API allows the origin "${origin}" (it reflects any origin, like *), without credentials.`,
      {
        fix: "Fine for a public, tokenless API; otherwise allow only the origins of your own front ends, never the request's Origin.",
        evidence: evidence(res),
      },
    );
  }
  if (allowed !== undefined && allowed === origin) {
    return finding(
      check,
      LINE,
      'fail',
      `${what} The API allows the origin "${origin}" with credentials: any web site can read what its users can.`,
      {
        fix: "Allow only the origins of your own front ends (an allow-list), never the request's Origin.",
        evidence: evidence(res),
      },
    );
  }
  if (allowed === '*') {
    return credentials
      ? finding(
          check,
          LINE,
          'fail',
          `${what} The API answers Access-Control-Allow-Origin: * with credentials.`,
          {
            fix: 'Never combine a wildcard origin with credentials; list origins.',
            evidence: evidence(res),
          },
        )
      : finding(check, LINE, 'warn', `${what} The API allows every origin (*).`, {
          fix: 'Fine for a public, tokenless API; otherwise list the origins of your front ends.',
          evidence: evidence(res),
        });
  }
  return finding(
    check,
    LINE,
    'pass',
    `${what} The origin is not allowed${allowed === undefined ? '' : ` (Access-Control-Allow-Origin: ${allowed})`}.`,
  );
}

/** CORS: a foreign origin, the null origin and a preflight from a foreign origin are not trusted. */
export function corsChecks(ctx: ScanContext): Check[] {
  const path = ctx.protectedPath ?? '/';
  const auth: Record<string, string> =
    ctx.token === undefined ? {} : credentialHeaders(ctx, ctx.token);
  return [
    check('cors.foreign-origin', LINE, async () =>
      judge(
        'cors.foreign-origin',
        await ctx.send({ path, headers: { ...auth, origin: ctx.foreignOrigin } }),
        ctx.foreignOrigin,
        `A request from ${ctx.foreignOrigin}:`,
      ),
    ),
    check('cors.null-origin', LINE, async () =>
      judge(
        'cors.null-origin',
        await ctx.send({ path, headers: { ...auth, origin: 'null' } }),
        'null',
        'A request from the "null" origin (sandboxed frames, file: pages):',
      ),
    ),
    check('cors.preflight', LINE, async () =>
      judge(
        'cors.preflight',
        await ctx.send({
          method: 'OPTIONS',
          path,
          headers: {
            origin: ctx.foreignOrigin,
            'access-control-request-method': 'GET',
            'access-control-request-headers': (ctx.authHeader ?? 'authorization').toLowerCase(),
          },
        }),
        ctx.foreignOrigin,
        `A preflight from ${ctx.foreignOrigin}:`,
      ),
    ),
  ];
}
