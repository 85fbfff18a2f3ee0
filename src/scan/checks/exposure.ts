import {
  check,
  evidence,
  finding,
  header,
  isSuccess,
  type Check,
  type ScanContext,
} from '../context.js';
import type { ScanFinding } from '../types.js';

/** Metrics are not open to anyone on the API's own port. */
export function metricsCheck(ctx: ScanContext): Check {
  return check('metrics.protected', 12, async () => {
    const res = await ctx.send({ path: '/metrics' });
    const prometheus = isSuccess(res) && /^# (HELP|TYPE) /m.test(res.body);
    return prometheus
      ? finding(
          'metrics.protected',
          12,
          'fail',
          '/metrics is open to anyone: it tells an attacker your traffic, routes and errors.',
          {
            fix: 'Require a metrics token, or serve metrics on a separate port reachable by the scraper only.',
            evidence: evidence(res),
          },
        )
      : finding('metrics.protected', 12, 'pass', `/metrics is not open to anyone (${res.status}).`);
  });
}

/**
 * Routes that carry no version on purpose: probes, metrics, well-known URIs, the API's own
 * description. Matched as a whole first path segment (`/health`, `/health/live`), or the
 * document's own file (`/openapi.json`, `/swagger.yaml`): `/healthcheck` or `/docsearch` are API
 * routes like any other.
 */
const UNVERSIONED_OK =
  /^\/(?:\.well-known|health|healthz|readyz|livez|metrics|docs|(?:openapi|swagger)(?:\.(?:json|ya?ml))?)(?:\/|$)/;

/** The API's routes carry a version (/v1/…), or it is routed by a version header. */
export function versioningCheck(ctx: ScanContext): ScanFinding {
  if (ctx.api === undefined) {
    return finding(
      'versioning.paths',
      13,
      'skip',
      'No OpenAPI document, so the routes could not be listed.',
    );
  }
  const { operations, prefix } = ctx.api;
  // /health is /api/health under a server path of /api: exempt as well.
  const routes = operations.filter((op) => !UNVERSIONED_OK.test(op.path.slice(prefix.length)));
  const unversioned = routes.filter((op) => !/\/v\d+(\/|$)/.test(op.path));
  const headerVersioned = [ctx.home, ctx.anonymous, ctx.authed].some(
    (res) => res !== undefined && header(res, 'api-version') !== undefined,
  );
  if (routes.length === 0 || unversioned.length === 0) {
    return finding(
      'versioning.paths',
      13,
      'pass',
      `Every API route carries a version (${routes.length} routes).`,
    );
  }
  return headerVersioned
    ? finding(
        'versioning.paths',
        13,
        'pass',
        `${unversioned.length} routes have no version in their path; the API answers with an API-Version header.`,
      )
    : finding(
        'versioning.paths',
        13,
        'warn',
        `${unversioned.length} of ${routes.length} routes carry no version (e.g. ${unversioned[0]!.method} ${unversioned[0]!.path}).`,
        {
          fix: 'Version the API (/api/v1/…), so it can change without breaking clients, and deprecate old versions with Deprecation and Sunset.',
        },
      );
}
