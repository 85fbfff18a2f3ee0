import { randomUUID } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import { MIN_TOKEN_LENGTH, OPENAPI_CANDIDATES, SCAN_DEFAULTS } from './defaults.js';
import { ProbeError, ScanClient, type ProbeRequest } from './client.js';
import { corsChecks } from './checks/cors.js';
import { errorLeakChecks, errorProbes } from './checks/errors.js';
import { exposedPathChecks } from './checks/exposed-paths.js';
import { metricsCheck, versioningCheck } from './checks/exposure.js';
import { headerChecks } from './checks/headers.js';
import { inputChecks, traceCheck } from './checks/input.js';
import { loginThrottleCheck, rateLimitHeaderCheck } from './checks/rate-limit.js';
import { jwksChecks, tokenChecks } from './checks/tokens.js';
import { transportChecks } from './checks/transport.js';
import { isObject } from '../tools/jwt-inspect.js';
import { authHeaderProblem } from './auth-header.js';
import { findJwks } from './jwks-location.js';
import { checkLoginBody, fillLoginBody, PROBE_PASSWORD, PROBE_USER } from './login-body.js';
import { credentials, isSuccess, judgeCheck, type Check, type ScanContext } from './context.js';
import {
  describeApi,
  findLoginRoute,
  findProtectedRoute,
  sampleValue,
  serverPrefix,
  type ApiDescription,
  type Operation,
} from './discovery.js';
import type { ProbeResponse, ScanFinding, ScanOptions, ScanReport } from './types.js';
import { describeUnreachable } from './unreachable.js';

export { SCAN_DEFAULTS };

/** An OpenAPI document is read up to this size (big APIs have documents of megabytes). */
const MAX_OPENAPI_BYTES = 8 * 1024 * 1024;

/**
 * The target stopped answering a request the whole scan depends on (the protected route, an
 * unknown address): the scan cannot go on.
 */
export class ScanAbortedError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ScanAbortedError';
  }
}

/** The target did not answer at all: nothing was scanned. */
export class TargetUnreachableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TargetUnreachableError';
  }
}

const DEFAULT_LOGIN_SAMPLE = { email: PROBE_USER, password: PROBE_PASSWORD };

/** Every string of `value` with `secret` (and its URL-encoded form) replaced by "…". */
function redact<T>(value: T, secret: string | undefined): T {
  if (secret === undefined || secret.length < MIN_TOKEN_LENGTH) return value;
  const forms = [...new Set([secret, encodeURIComponent(secret)])];
  return JSON.parse(JSON.stringify(value), (_key, item: unknown) =>
    typeof item === 'string'
      ? forms.reduce((text, form) => text.split(form).join('…'), item)
      : item,
  ) as T;
}

function parseJson(res: ProbeResponse): unknown {
  try {
    return JSON.parse(res.body) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * YAML is read in the scan's own thread, where no timeout can stop it: about a hundred times
 * slower than JSON and with a hundred times the document's size in memory (8 MiB of YAML takes
 * seconds and over a GiB), so a YAML document is read up to this size; JSON up to the full limit.
 */
const MAX_YAML_BYTES = 2 * 1024 * 1024;

/**
 * An OpenAPI document as JSON, or else as YAML (aliases bounded, so a "billion laughs" document
 * cannot blow up), or why it is neither.
 */
function parseDocument(res: ProbeResponse, path: string): { value: unknown } | { problem: string } {
  const json = parseJson(res);
  if (json !== undefined) return { value: json };
  // A single-page app answers every path with its index.html; YAML would read it as a string.
  if (/^\s*</.test(res.body)) return { problem: `${path} answered an HTML page` };
  if (Buffer.byteLength(res.body) > MAX_YAML_BYTES) {
    return {
      problem: `${path} is not JSON, and larger than ${MAX_YAML_BYTES / 1024 / 1024} MiB of YAML (serve it as JSON)`,
    };
  }
  try {
    // uniqueKeys off: checking it compares every key of a map with every other (quadratic: a
    // map of 40,000 keys, half a MiB, takes seconds). A repeated key is the document's problem.
    return { value: parseYaml(res.body, { maxAliasCount: 100, uniqueKeys: false }) as unknown };
  } catch {
    return { problem: `${path} is neither JSON nor YAML` };
  }
}

/**
 * The login route and a well-formed body for it (wrong credentials), from the options or the API.
 * A body shape given (`loginBody`) wins over the one the OpenAPI document describes: the user
 * gave it because the document's is missing, wrong or beyond the sample builder.
 */
function loginRoute(
  options: ScanOptions,
  api: ApiDescription | undefined,
): { login: Operation | undefined; sample: Record<string, unknown> | undefined } {
  const described =
    options.loginPath === undefined
      ? api === undefined
        ? undefined
        : findLoginRoute(api)
      : api?.operations.find((op) => op.method === 'POST' && op.path === options.loginPath);
  const login: Operation | undefined =
    described ??
    (options.loginPath === undefined
      ? undefined
      : { method: 'POST', path: options.loginPath, bearer: false, needsParameters: false });
  if (login === undefined) return { login, sample: undefined };
  if (options.loginBody !== undefined) return { login, sample: fillLoginBody(options.loginBody) };
  if (login.jsonBody === undefined || api === undefined)
    return { login, sample: { ...DEFAULT_LOGIN_SAMPLE } };
  const sample = sampleValue(login.jsonBody, api.root);
  return {
    login,
    sample: isObject(sample) ? sample : undefined,
  };
}

/**
 * Scans a running API from the outside: discovers its routes from its OpenAPI document, then
 * probes transport, headers, CORS, authentication (with forged tokens when given a real one),
 * input handling, error answers, metrics exposure, files and endpoints a deployment left reachable
 * (.env, .git, Spring Boot Actuator, a directory listing) and rate limiting. Every request goes to the
 * target only (and to `jwksUrl`, when the caller names another origin), bounded in number
 * (`maxRequests`) and time (`timeoutMs` each).
 */
export async function runScan(options: ScanOptions): Promise<ScanReport> {
  try {
    return redact(await scan(options), options.token);
  } catch (error) {
    // Errors are printed: the token must not be in them either.
    if (error instanceof Error) error.message = redact(error.message, options.token);
    throw error;
  }
}

async function scan(options: ScanOptions): Promise<ScanReport> {
  // A shape the scan cannot use is the caller's mistake: said before anything is sent.
  if (options.loginBody !== undefined) checkLoginBody(options.loginBody);
  // The report is kept clear of the token by replacing it wherever it appears, which a string of
  // a few characters does not allow (it would take words of the report with it).
  if (options.token !== undefined && options.token.length < MIN_TOKEN_LENGTH)
    throw new TypeError(`token must be at least ${MIN_TOKEN_LENGTH} characters long`);
  const headerProblem =
    options.authHeader === undefined ? undefined : authHeaderProblem(options.authHeader);
  if (headerProblem !== undefined) throw new TypeError(`authHeader ${headerProblem}`);
  if (options.jwksUrl !== undefined && !options.jwksUrl.startsWith('/')) {
    const protocol = URL.canParse(options.jwksUrl) ? new URL(options.jwksUrl).protocol : '';
    if (protocol !== 'http:' && protocol !== 'https:')
      throw new TypeError('jwksUrl must be a path starting with "/" or an http(s) URL');
  }
  const started = Date.now();
  const client = new ScanClient(options.target, {
    timeoutMs: options.timeoutMs ?? SCAN_DEFAULTS.timeoutMs,
    maxRequests: options.maxRequests ?? SCAN_DEFAULTS.maxRequests,
    maxDurationMs: options.maxDurationMs ?? SCAN_DEFAULTS.maxDurationMs,
    ...(options.ca === undefined ? {} : { ca: options.ca }),
  });
  const seen: ProbeResponse[] = [];
  const send = async (probe: ProbeRequest): Promise<ProbeResponse> => {
    const res = await client.send(probe);
    seen.push(res);
    return res;
  };
  /** A request the rest of the scan needs: no answer ends the scan with one clear error. */
  const needed = async (probe: ProbeRequest): Promise<ProbeResponse> => {
    try {
      return await send(probe);
    } catch (error) {
      if (error instanceof ProbeError)
        throw new ScanAbortedError(`the target stopped answering: ${error.message}`, {
          cause: error,
        });
      throw error;
    }
  };
  /** A discovery document: read, not judged (it stays out of `seen`); no answer is no document. */
  const discover = async (
    path: string,
    maxBodyBytes?: number,
  ): Promise<{ res?: ProbeResponse; problem?: string; stalled?: boolean }> => {
    try {
      return { res: await client.send({ path, ...(maxBodyBytes ? { maxBodyBytes } : {}) }) };
    } catch (error) {
      if (error instanceof ProbeError)
        return { problem: error.message, stalled: error.code === 'ETIMEDOUT' };
      throw error;
    }
  };

  let home: ProbeResponse;
  try {
    home = await send({ path: '/' });
  } catch (error) {
    if (error instanceof ProbeError) {
      const target = client.url('/');
      throw new TargetUnreachableError(
        `could not reach ${target.href}: ${describeUnreachable(error, target)}`,
        { cause: error },
      );
    }
    throw error;
  }

  // The OpenAPI document: where the user said, or the first of the usual places that has one.
  const candidates = options.openapiPath === undefined ? OPENAPI_CANDIDATES : [options.openapiPath];
  let api: ApiDescription | undefined;
  let openapiPath: string | undefined;
  const problems: string[] = [];
  let stalled: string | undefined;
  for (const [index, path] of candidates.entries()) {
    const found = await discover(path, MAX_OPENAPI_BYTES);
    const res = found.res;
    if (res === undefined) {
      const problem = found.problem ?? `${path} did not answer`;
      // A target that holds one usual place open holds the others too: trying them all would
      // cost a timeout each (80 s at the defaults) to learn nothing more. A quick reset is no
      // such sign, and the next place is tried.
      if (found.stalled && index < candidates.length - 1) {
        stalled = `${problem}, so the other usual places were not tried (give the document with --openapi)`;
        problems.push(stalled);
        break;
      }
      problems.push(problem);
      continue;
    }
    if (!isSuccess(res)) {
      problems.push(`${path} answered ${res.status}`);
      continue;
    }
    if (res.truncated) {
      problems.push(`${path} is larger than ${MAX_OPENAPI_BYTES / 1024 / 1024} MiB`);
      continue;
    }
    const document = parseDocument(res, path);
    if ('problem' in document) {
      problems.push(document.problem);
      continue;
    }
    const parsed = document.value;
    api = describeApi(parsed, serverPrefix(parsed, client.url(path), options.target));
    if (api !== undefined) {
      openapiPath = path;
      break;
    }
    problems.push(
      isObject(parsed) && 'swagger' in parsed
        ? `${path} is Swagger 2.0, which is not read (convert it to OpenAPI 3)`
        : `${path} is not an OpenAPI 3 document`,
    );
  }
  // One path: its problem. Several: the most telling one (not a plain 404 or an app's HTML
  // page), and the stall that ended the search if there was one; or that none had one.
  const plain = / answered (404|an HTML page)$/;
  const telling = problems.find((p) => !plain.test(p));
  const html = problems.some((p) => p.endsWith(' answered an HTML page'));
  const openapiProblem =
    candidates.length === 1
      ? problems[0]
      : stalled !== undefined
        ? [...new Set([telling, stalled])].join('; ')
        : (telling ??
          `none of ${candidates.join(', ')} has an OpenAPI document${
            html ? ', some answered an HTML page (a single-page app answering every path?)' : ''
          } (give one with --openapi)`);
  // Read, not judged, like the OpenAPI document: it stays out of `seen`.
  const jwks = await findJwks(client, (probe) => client.send(probe), options.jwksUrl);

  const protectedPath =
    options.protectedPath ??
    (api === undefined ? undefined : findProtectedRoute(api, options.authHeader));
  const { login, sample } = loginRoute(options, api);
  const ctx: ScanContext = {
    client,
    foreignOrigin: options.foreignOrigin ?? SCAN_DEFAULTS.foreignOrigin,
    rateLimitRequests: options.rateLimitRequests ?? SCAN_DEFAULTS.rateLimitRequests,
    api,
    openapiPath: api === undefined ? undefined : openapiPath,
    protectedPath,
    login,
    loginSample: sample,
    loginBodyGiven: options.loginBody !== undefined && sample !== undefined,
    jwks: jwks.keys ?? [],
    token: options.token,
    authHeader: options.authHeader,
    authed: undefined,
    home,
    notFound: await needed({ path: `/bulwark-audit-${randomUUID()}` }),
    anonymous: protectedPath === undefined ? undefined : await needed({ path: protectedPath }),
    seen,
    send,
  };
  if (options.token !== undefined && protectedPath !== undefined) {
    const authed = await needed({
      path: protectedPath,
      headers: credentials(ctx, options.token),
    });
    if (isSuccess(authed)) ctx.authed = authed;
  }

  const findings: ScanFinding[] = [];
  findings.push(...jwksChecks(ctx, jwks));
  // The checks that probe, group by group, in this order: each group is listed when its turn
  // comes (the input checks' shared probe is sent then), and each check judged on its own.
  const groups: (() => Check[] | Promise<Check[]>)[] = [
    () => tokenChecks(ctx),
    () => corsChecks(ctx),
    () => errorProbes(ctx),
    () => inputChecks(ctx),
    // Without a body, so with or without a login route.
    () => [traceCheck(ctx)],
    () => [metricsCheck(ctx)],
    // Files and endpoints a deployment left reachable (.env, .git, Actuator, a listing).
    () => exposedPathChecks(ctx),
    () => transportChecks(ctx),
    // Last: it uses up the scanning client's allowance at the auth routes.
    () => [loginThrottleCheck(ctx)],
  ];
  for (const group of groups) {
    for (const unit of await group()) {
      const found = await judgeCheck(unit);
      if (found !== undefined) findings.push(found);
    }
  }
  findings.push(...headerChecks(ctx));
  findings.push(...errorLeakChecks(ctx));
  findings.push(rateLimitHeaderCheck(ctx));
  findings.push(versioningCheck(ctx));

  return {
    target: client.url('/').href,
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    requests: client.sent,
    openapi: ctx.openapiPath ?? null,
    ...(api === undefined && openapiProblem !== undefined ? { openapiProblem } : {}),
    tokenGiven: options.token !== undefined,
    findings: findings.sort((a, b) => a.line - b.line),
  };
}
