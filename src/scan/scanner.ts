import { randomUUID, type JsonWebKey } from 'node:crypto';
import { ProbeError, ScanClient, type ProbeRequest } from './client.js';
import { corsChecks } from './checks/cors.js';
import { errorLeakChecks, errorProbes } from './checks/errors.js';
import { metricsCheck, versioningCheck } from './checks/exposure.js';
import { headerChecks } from './checks/headers.js';
import { inputChecks } from './checks/input.js';
import { loginThrottleCheck, rateLimitHeaderCheck } from './checks/rate-limit.js';
import { jwksChecks, tokenChecks } from './checks/tokens.js';
import { transportChecks } from './checks/transport.js';
import { isSuccess, type ScanContext } from './context.js';
import {
  describeApi,
  findLoginRoute,
  findProtectedRoute,
  sampleValue,
  type ApiDescription,
  type Operation,
} from './discovery.js';
import type { ProbeResponse, ScanFinding, ScanOptions, ScanReport } from './types.js';

export const SCAN_DEFAULTS = Object.freeze({
  openapiPath: '/openapi.json',
  foreignOrigin: 'https://bulwark-audit.invalid',
  rateLimitRequests: 100,
  maxRequests: 400,
  timeoutMs: 10_000,
});

/** The target did not answer at all: nothing was scanned. */
export class TargetUnreachableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TargetUnreachableError';
  }
}

const DEFAULT_LOGIN_SAMPLE = {
  email: 'audit-probe@example.com',
  password: 'not the password of anyone 7f3a',
};

function parseJson(res: ProbeResponse): unknown {
  try {
    return JSON.parse(res.body) as unknown;
  } catch {
    return undefined;
  }
}

/** The login route and a well-formed body for it (wrong credentials), from the options or the API. */
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
  if (login.jsonBody === undefined || api === undefined)
    return { login, sample: { ...DEFAULT_LOGIN_SAMPLE } };
  const sample = sampleValue(login.jsonBody, api.root);
  return {
    login,
    sample:
      typeof sample === 'object' && sample !== null && !Array.isArray(sample)
        ? (sample as Record<string, unknown>)
        : undefined,
  };
}

/**
 * Scans a running API from the outside: discovers its routes from its OpenAPI document, then
 * probes transport, headers, CORS, authentication (with forged tokens when given a real one),
 * input handling, error answers, metrics exposure and rate limiting. Every request goes to the
 * target only, bounded in number (`maxRequests`) and time (`timeoutMs` each).
 */
export async function runScan(options: ScanOptions): Promise<ScanReport> {
  const started = Date.now();
  const client = new ScanClient(options.target, {
    timeoutMs: options.timeoutMs ?? SCAN_DEFAULTS.timeoutMs,
    maxRequests: options.maxRequests ?? SCAN_DEFAULTS.maxRequests,
    ...(options.ca === undefined ? {} : { ca: options.ca }),
  });
  const seen: ProbeResponse[] = [];
  const send = async (probe: ProbeRequest): Promise<ProbeResponse> => {
    const res = await client.send(probe);
    seen.push(res);
    return res;
  };

  let home: ProbeResponse;
  try {
    home = await send({ path: '/' });
  } catch (error) {
    if (error instanceof ProbeError) {
      throw new TargetUnreachableError(
        `could not reach ${client.url('/').href}: ${error.message.replace(/^GET \/: /, '')}`,
        { cause: error },
      );
    }
    throw error;
  }

  // Discovery documents are read, not judged: they stay out of `seen`.
  const openapiPath = options.openapiPath ?? SCAN_DEFAULTS.openapiPath;
  const openapiRes = await client.send({ path: openapiPath });
  const api = isSuccess(openapiRes) ? describeApi(parseJson(openapiRes)) : undefined;
  const jwksRes = await client.send({ path: '/.well-known/jwks.json' });
  const jwksBody = isSuccess(jwksRes) ? parseJson(jwksRes) : undefined;
  const jwksKeys =
    typeof jwksBody === 'object' &&
    jwksBody !== null &&
    Array.isArray((jwksBody as { keys?: unknown }).keys)
      ? ((jwksBody as { keys: unknown[] }).keys.filter(
          (k) => typeof k === 'object' && k !== null,
        ) as JsonWebKey[])
      : undefined;

  const protectedPath =
    options.protectedPath ?? (api === undefined ? undefined : findProtectedRoute(api));
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
    jwks: jwksKeys ?? [],
    token: options.token,
    authed: undefined,
    home,
    notFound: await send({ path: `/bulwark-audit-${randomUUID()}` }),
    anonymous: protectedPath === undefined ? undefined : await send({ path: protectedPath }),
    seen,
    send,
  };
  if (options.token !== undefined && protectedPath !== undefined) {
    const authed = await send({
      path: protectedPath,
      headers: { authorization: `Bearer ${options.token}` },
    });
    if (isSuccess(authed)) ctx.authed = authed;
  }

  const findings: ScanFinding[] = [];
  findings.push(...jwksChecks(ctx, jwksKeys !== undefined));
  findings.push(...(await tokenChecks(ctx)));
  findings.push(...(await corsChecks(ctx)));
  findings.push(...(await errorProbes(ctx)));
  findings.push(...(await inputChecks(ctx)));
  findings.push(await metricsCheck(ctx));
  findings.push(...(await transportChecks(ctx)));
  // Last: it uses up the scanning client's allowance at the auth routes.
  findings.push(await loginThrottleCheck(ctx));
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
    tokenGiven: options.token !== undefined,
    findings: findings.sort((a, b) => a.line - b.line),
  };
}
