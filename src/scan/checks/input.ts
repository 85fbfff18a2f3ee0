import { ProbeError } from '../client.js';
import {
  answerOf,
  check,
  evidence,
  finding,
  isSuccess,
  loginBodyHint,
  rateLimitedSkip,
  settle,
  skipped,
  type Check,
  type ScanContext,
} from '../context.js';
import type { ProbeResponse, ScanFinding } from '../types.js';

const LINE = 4;
const JSON_TYPE = { 'content-type': 'application/json' };
/** Larger than any sane JSON body limit, small enough to send to a server on loopback or nearby. */
const HUGE_BODY_BYTES = 2 * 1024 * 1024;

/**
 * Input handling at the login route (the one open JSON route whose bodies change nothing):
 * content type, body size, prototype poisoning and unknown fields. `baseline` is the answer to a
 * well-formed body with wrong credentials, which two of the checks compare with. TRACE sends no
 * body and is checked on its own (traceCheck), with or without a login route.
 */
export async function inputChecks(ctx: ScanContext): Promise<Check[]> {
  const login = ctx.login;
  const sample = ctx.loginSample;
  if (login === undefined || sample === undefined) {
    return [
      skipped(
        'input.json-route',
        LINE,
        login === undefined
          ? 'No login route known, so the body checks did not run: pass --login-path, or serve an OpenAPI document.'
          : `Could not build a well-formed body for ${login.path} from its schema, so the body checks did not run: give its shape with --login-body.`,
      ),
    ];
  }
  const path = login.path;
  const text = JSON.stringify(sample);
  // No answer to it costs only the checks that compare with it (answerOf throws for them).
  const baseline = await settle(ctx.send({ method: 'POST', path, headers: JSON_TYPE, body: text }));
  if (!(baseline instanceof ProbeError)) ctx.loginBaseline = baseline;
  if (!(baseline instanceof ProbeError) && (baseline.status === 404 || baseline.status === 405)) {
    // Nothing is there to take a body: every probe below would get the same answer, and a
    // 404 to text/plain or to 2 MiB is no sign that either was processed.
    return [
      skipped(
        'input.json-route',
        LINE,
        `POST ${path} answered ${baseline.status}, so it is no login route and the body checks did not run: pass --login-path.`,
        { evidence: evidence(baseline) },
      ),
    ];
  }
  return [
    check('input.content-type', LINE, () => contentTypeCheck(ctx, path, text, answerOf(baseline))),
    check('input.body-limit', LINE, () => bodyLimitCheck(ctx, path, sample)),
    check('input.prototype-poisoning', LINE, () =>
      prototypePoisoningCheck(ctx, path, text, baseline),
    ),
    check('input.unknown-fields', LINE, () =>
      unknownFieldsCheck(ctx, path, sample, answerOf(baseline)),
    ),
  ];
}

/**
 * The `skip` of a check whose probe got the same 400 as the well-formed body. The body built for
 * the route (from its schema, or the default email and password without one) was itself refused
 * as invalid, so a 400 to the probe may be that same refusal: it says nothing about how the probe
 * was handled. Judged as an answer, an API that ignores text/plain and asks for its `username`
 * was failed as "processing text/plain like JSON", and one that never looks at `__proto__` passed.
 */
function cannotTellApart(
  ctx: ScanContext,
  id: string,
  path: string,
  baseline: ProbeResponse,
  probe: ProbeResponse,
): ScanFinding | undefined {
  if (baseline.status !== 400 || probe.status !== 400) return undefined;
  return finding(
    id,
    LINE,
    'skip',
    `The well-formed body built for ${path} was itself refused (400), so a 400 to this probe could not be told apart from that: ${loginBodyHint(ctx)}.`,
    { evidence: evidence(probe) },
  );
}

async function contentTypeCheck(
  ctx: ScanContext,
  path: string,
  text: string,
  baseline: ProbeResponse,
): Promise<ScanFinding> {
  // A simple request (text/plain) is what a cross-site form can send without a preflight.
  const plain = await ctx.send({
    method: 'POST',
    path,
    headers: { 'content-type': 'text/plain' },
    body: text,
  });
  const limited = rateLimitedSkip('input.content-type', LINE, plain);
  if (limited !== undefined) return limited;
  const blind = cannotTellApart(ctx, 'input.content-type', path, baseline, plain);
  if (blind !== undefined) return blind;
  return plain.status === 415
    ? finding(
        'input.content-type',
        LINE,
        'pass',
        'A JSON body sent as text/plain is refused with 415.',
      )
    : plain.status >= 400 && plain.status !== baseline.status && plain.status < 500
      ? finding(
          'input.content-type',
          LINE,
          'warn',
          `A JSON body sent as text/plain is refused, with ${plain.status} rather than 415.`,
          {
            fix: 'Answer 415 Unsupported Media Type to anything but application/json.',
            evidence: evidence(plain),
          },
        )
      : plain.status >= 500 && baseline.status < 500
        ? // Handled otherwise than the same body as JSON (Express 5 leaves req.body undefined, and
          // the handler throws): not processed like JSON, and errors.no-5xx fails the crash.
          finding(
            'input.content-type',
            LINE,
            'warn',
            `A JSON body sent as text/plain made the API fail (${plain.status}) instead of being refused with 415.`,
            {
              fix: 'Answer 415 Unsupported Media Type to anything but application/json, before the handler runs.',
              evidence: evidence(plain),
            },
          )
        : finding(
            'input.content-type',
            LINE,
            'fail',
            'A JSON body sent as text/plain is processed like JSON: any web site can post it from a form, without a CORS preflight.',
            {
              fix: 'Accept application/json only; refuse other content types with 415.',
              evidence: evidence(plain),
            },
          );
}

async function bodyLimitCheck(
  ctx: ScanContext,
  path: string,
  sample: Record<string, unknown>,
): Promise<ScanFinding> {
  let huge: ProbeResponse | undefined;
  try {
    huge = await ctx.send({
      method: 'POST',
      path,
      headers: JSON_TYPE,
      body: JSON.stringify({ ...sample, padding: 'x'.repeat(HUGE_BODY_BYTES) }),
    });
  } catch (error) {
    // Closing the connection on an oversized body is a refusal too.
    if (!(error instanceof ProbeError) || error.code === 'ETIMEDOUT') throw error;
  }
  const limited = huge === undefined ? undefined : rateLimitedSkip('input.body-limit', LINE, huge);
  if (limited !== undefined) return limited;
  return huge === undefined || huge.status === 413
    ? finding(
        'input.body-limit',
        LINE,
        'pass',
        `A 2 MiB body is refused (${huge === undefined ? 'connection closed' : '413'}).`,
      )
    : huge.status === 400
      ? finding(
          'input.body-limit',
          LINE,
          'warn',
          'A 2 MiB body was read and parsed before being refused (400, not 413).',
          {
            fix: 'Limit the body size before parsing (e.g. 100 KiB), answering 413.',
            evidence: evidence(huge),
          },
        )
      : finding(
          'input.body-limit',
          LINE,
          'fail',
          `A 2 MiB body was accepted for processing (${huge.status}).`,
          {
            fix: 'Limit the body size before parsing (e.g. 100 KiB), answering 413.',
            evidence: evidence(huge),
          },
        );
}

async function prototypePoisoningCheck(
  ctx: ScanContext,
  path: string,
  text: string,
  baseline: ProbeResponse | ProbeError,
): Promise<ScanFinding> {
  const poisoned = await ctx.send({
    method: 'POST',
    path,
    headers: JSON_TYPE,
    body: `${text.slice(0, -1)}${text.length > 2 ? ',' : ''}"__proto__":{"isAdmin":true,"role":"admin"}}`,
  });
  const limited = rateLimitedSkip('input.prototype-poisoning', LINE, poisoned);
  if (limited !== undefined) return limited;
  // Only a 400 needs the well-formed body's answer to be judged (answerOf throws without one).
  const blind =
    poisoned.status === 400
      ? cannotTellApart(ctx, 'input.prototype-poisoning', path, answerOf(baseline), poisoned)
      : undefined;
  if (blind !== undefined) return blind;
  return poisoned.status === 400
    ? finding(
        'input.prototype-poisoning',
        LINE,
        'pass',
        'A body with a "__proto__" key is refused with 400.',
      )
    : poisoned.status >= 500
      ? finding(
          'input.prototype-poisoning',
          LINE,
          'fail',
          `A body with a "__proto__" key made the API fail (${poisoned.status}).`,
          {
            fix: 'Parse JSON with prototype-poisoning protection (secure-json-parse) and refuse such bodies with 400.',
            evidence: evidence(poisoned),
          },
        )
      : finding(
          'input.prototype-poisoning',
          LINE,
          'warn',
          `A body with a "__proto__" key was taken (${poisoned.status}, like a clean one).`,
          {
            fix: 'Refuse "__proto__" and "constructor.prototype" keys with 400 (secure-json-parse), so no code merges them into objects.',
            evidence: evidence(poisoned),
          },
        );
}

async function unknownFieldsCheck(
  ctx: ScanContext,
  path: string,
  sample: Record<string, unknown>,
  baseline: ProbeResponse,
): Promise<ScanFinding> {
  if (baseline.status === 400 || isSuccess(baseline)) {
    return finding(
      'input.unknown-fields',
      LINE,
      'skip',
      `The well-formed body built for ${path} was answered ${baseline.status}, so unknown fields could not be told apart.`,
    );
  }
  const extra = await ctx.send({
    method: 'POST',
    path,
    headers: JSON_TYPE,
    body: JSON.stringify({ ...sample, isAdmin: true, bulwarkAuditUnknownField: 1 }),
  });
  const limited = rateLimitedSkip('input.unknown-fields', LINE, extra);
  if (limited !== undefined) return limited;
  return extra.status === 400 || extra.status === 422
    ? finding(
        'input.unknown-fields',
        LINE,
        'pass',
        `A body with unknown fields is refused (${extra.status}).`,
      )
    : finding(
        'input.unknown-fields',
        LINE,
        'warn',
        `A body with unknown fields ("isAdmin") is answered like a clean one (${extra.status}).`,
        {
          fix: 'Validate every body against a schema with additionalProperties: false, so no field reaches a model unchecked (mass assignment).',
          evidence: evidence(extra),
        },
      );
}

/**
 * TRACE is not echoed (cross-site tracing). It needs no login route: it goes to the protected
 * route when one is known (a route of the API itself, past any proxy that serves the base path
 * from elsewhere), else to the base path.
 */
export function traceCheck(ctx: ScanContext): Check {
  return check('input.trace', LINE, async () => {
    const trace = await ctx.send({
      method: 'TRACE',
      path: ctx.protectedPath ?? '/',
      headers: { 'x-bulwark-audit-echo': 'probe' },
    });
    return traceFinding(trace);
  });
}

function traceFinding(trace: ProbeResponse): ScanFinding {
  // Case-insensitive: Go's net/http and many proxies echo header names canonicalised
  // (X-Bulwark-Audit-Echo).
  return isSuccess(trace) && trace.body.toLowerCase().includes('x-bulwark-audit-echo')
    ? finding(
        'input.trace',
        LINE,
        'fail',
        'TRACE echoes the request back (cross-site tracing can read cookies and headers).',
        {
          fix: 'Disable the TRACE method.',
          evidence: evidence(trace),
        },
      )
    : finding('input.trace', LINE, 'pass', `TRACE is not answered with an echo (${trace.status}).`);
}
