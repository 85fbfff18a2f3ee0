import { unsafeOverrides } from '../config/unsafe-overrides.js';
import { isLoopbackHost } from '../config/loopback.js';
import { pass, productionFail, type Outcome, type PostureCheck } from './types.js';

// Checklist lines 4 and up that a configuration decides: input limits, rate limits, logging,
// metrics, versioning, CORS, the runtime and the production overrides.

export const inputLimitsCheck: PostureCheck = {
  id: 'input.limits',
  line: 4,
  run(context) {
    const { bodyLimitBytes, maxJsonDepth } = context.config.http;
    const outcomes: Outcome[] = [];
    if (bodyLimitBytes > 1_048_576) {
      outcomes.push({
        status: 'warn',
        reason: `http.bodyLimitBytes is ${bodyLimitBytes}: large bodies make floods cheap.`,
        fix: 'keep it at the size of your largest legitimate request (default 102400).',
      });
    }
    if (maxJsonDepth > 64) {
      outcomes.push({
        status: 'warn',
        reason: `http.maxJsonDepth is ${maxJsonDepth}: deep nesting costs CPU in every parser and validator.`,
        fix: 'keep it at 32 or less.',
      });
    }
    return outcomes.length > 0
      ? outcomes
      : pass(
          `JSON only, body limit ${Math.round(bodyLimitBytes / 1024)} KiB, depth ${maxJsonDepth}; strict schemas enforced at route registration.`,
        );
  },
};

export const builtInChecks: PostureCheck[] = [
  {
    id: 'sanitization.built-in',
    line: 5,
    run: () =>
      pass(
        "built in for Bulwark's own fields and routes: trim/NFC/lower-cased emails, control characters refused, a response schema on every route (give your own routes one too: docs/library.md).",
      ),
  },
  {
    id: 'sql.built-in',
    line: 6,
    run: (context) =>
      pass(
        `built in: every ${context.config.database.url === undefined ? 'SQLite' : 'PostgreSQL'} query goes through Kysely with bound parameters.`,
      ),
  },
  {
    id: 'headers.built-in',
    line: 10,
    run: (context) =>
      pass(
        `CSP, nosniff, DENY, no-referrer, COOP/CORP, no-store on every response; HSTS max-age=${context.config.hsts.maxAgeSeconds} on HTTPS responses${context.config.docs.enabled ? '; /docs has its own CSP' : ''}.`,
      ),
  },
  {
    id: 'errors.built-in',
    line: 11,
    run: () => pass('built in: one handler, RFC 9457 problems with stable codes, generic 500s.'),
  },
  {
    id: 'testing.built-in',
    line: 15,
    run: () =>
      pass(
        'not a runtime setting: the test suite attacks the service; run `bulwark doctor` in CI.',
      ),
  },
];

export const rateLimitCheck: PostureCheck = {
  id: 'rate-limit.enabled',
  line: 7,
  run(context) {
    const { rateLimit, redis } = context.config;
    if (!rateLimit.enabled) {
      return {
        status: productionFail(context),
        reason:
          'rateLimit.enabled is false: no rate limits and no brute-force protection of logins.',
        fix: 'turn rate limiting back on and raise rateLimit.* limits instead.',
      };
    }
    return pass(
      `general ${rateLimit.general.points}/${rateLimit.general.durationSeconds} s, auth ${rateLimit.auth.points}/${rateLimit.auth.durationSeconds} s, login throttling on; ${redis.url === undefined ? 'memory store (one instance)' : `Redis store, ${redis.onOutage}`}.`,
    );
  },
};

export const loggingCheck: PostureCheck = {
  id: 'logging.level',
  line: 12,
  run(context) {
    const level = context.config.log.level;
    if (['error', 'fatal', 'silent'].includes(level)) {
      return {
        status: 'warn',
        reason: `log.level is ${level}: security events (info/warn) and access lines are not logged (the audit table still records events).`,
        fix: 'use log.level=info.',
      };
    }
    return pass(
      `JSON logs at ${level} with secrets redacted; security events to the hash-chained audit table.`,
    );
  },
};

export const metricsCheck: PostureCheck = {
  id: 'metrics.exposure',
  line: 12,
  run(context) {
    const { metrics } = context.config;
    if (metrics.port !== undefined && metrics.token === undefined) {
      return {
        status: productionFail(context),
        reason: `the metrics listener on ${metrics.host}:${metrics.port} answers without a token: every local process can read it.`,
        fix: 'set metrics.token (32+ random characters) and give it to Prometheus as a bearer token.',
      };
    }
    if (metrics.token === undefined) {
      return {
        status: 'warn',
        reason:
          'no Prometheus metrics are exposed: attacks and outages have no metrics to alert on.',
        fix: 'set metrics.token (and optionally metrics.port).',
      };
    }
    return pass(
      `/metrics requires the bearer token${metrics.port === undefined ? '' : ` (also on port ${metrics.port})`}.`,
    );
  },
};

export const versioningCheck: PostureCheck = {
  id: 'versioning.deprecations',
  line: 13,
  run(context) {
    const outcomes: Outcome[] = [];
    for (const [version, entry] of Object.entries(context.config.api.deprecations)) {
      if (entry.sunsetAt !== undefined && Date.parse(entry.sunsetAt) <= context.now.getTime()) {
        outcomes.push({
          status: 'warn',
          reason: `API v${version} is past its sunset (${entry.sunsetAt}) and answers 410 to every request.`,
          fix: `remove v${version}'s clients, or move its sunsetAt.`,
        });
      }
    }
    const count = Object.keys(context.config.api.deprecations).length;
    return outcomes.length > 0
      ? outcomes
      : pass(
          count === 0
            ? '/api/v1 current; no version deprecated.'
            : `${count} deprecated version(s), none past its sunset.`,
        );
  },
};

export const corsCheck: PostureCheck = {
  id: 'cors.origins',
  line: 14,
  run(context) {
    const { origins, credentials } = context.config.cors;
    if (origins.includes('*')) {
      return credentials
        ? {
            status: 'fail',
            reason:
              'cors.origins allows any origin ("*") with credentials: every web site could act with your users\u2019 credentials.',
            fix: 'list the exact origins of your front ends.',
          }
        : {
            status: productionFail(context),
            reason:
              'cors.origins allows any origin ("*"): every web site may call the API from its visitors\u2019 browsers.',
            fix: 'list the exact origins of your front ends.',
          };
    }
    const plain = origins.filter(
      (o) => o.startsWith('http://') && !isLoopbackHost(new URL(o).hostname),
    );
    if (plain.length > 0 && context.config.env === 'production') {
      return {
        status: 'warn',
        reason: `cors.origins allows plain-http origins (${plain.join(', ')}), whose pages a network attacker can rewrite.`,
        fix: 'serve those front ends over https and list the https origin.',
      };
    }
    return pass(
      origins.length === 0
        ? 'no browser origin is allowed (the default).'
        : `${origins.length} exact origin(s)${credentials ? ', with credentials' : ''}.`,
    );
  },
};

/** Node.js release lines and their end of life (https://github.com/nodejs/release#release-schedule). */
const NODE_END_OF_LIFE: Record<number, string> = {
  18: '2025-04-30',
  20: '2026-04-30',
  22: '2027-04-30',
  24: '2028-04-30',
};

export const runtimeCheck: PostureCheck = {
  id: 'deps.node-runtime',
  line: 16,
  run(context) {
    const major = Number(context.nodeVersion.split('.')[0]);
    const eol = NODE_END_OF_LIFE[major];
    if (major % 2 === 1 || (eol !== undefined && Date.parse(eol) <= context.now.getTime())) {
      return {
        status: 'warn',
        reason: `Node.js ${context.nodeVersion} ${major % 2 === 1 ? 'is not a long-term-support release' : `reached end of life on ${eol}`}: it gets no security fixes.`,
        fix: 'run a maintained Node.js LTS release.',
      };
    }
    return pass(
      `Node.js ${context.nodeVersion} is a maintained LTS release; lockfile and install scripts are checked in CI.`,
    );
  },
};

export const environmentCheck: PostureCheck = {
  id: 'posture.env',
  line: 17,
  run(context) {
    if (context.config.env !== 'production') {
      return {
        status: 'warn',
        reason: `env is ${context.config.env}: unsafe settings are only warnings; production refuses to start on every fail.`,
        fix: 'deploy with NODE_ENV=production.',
      };
    }
    return pass('env is production: the service refuses to start while any check fails.');
  },
};

export const docsCheck: PostureCheck = {
  id: 'docs.exposure',
  line: 17,
  run(context) {
    const { docs, env } = context.config;
    if (!docs.enabled) return pass('/docs and /openapi.json are off.');
    if (env === 'production' && !docs.publicInProduction) {
      return {
        status: 'fail',
        reason:
          'docs.enabled is true in production while docs.publicInProduction is false: /docs and /openapi.json would be public.',
        fix: 'set BULWARK_DOCS_ENABLED=false, or BULWARK_DOCS_PUBLIC_IN_PRODUCTION=true to publish them deliberately.',
      };
    }
    return pass(
      `/docs and /openapi.json are public${env === 'production' ? ' (docs.publicInProduction)' : ''}.`,
    );
  },
};

export const unsafeOverridesCheck: PostureCheck = {
  id: 'config.unsafe-overrides',
  line: 17,
  run(context) {
    const found = unsafeOverrides(context.config);
    if (found.length === 0) return pass('no secure default is weakened.');
    return {
      status: 'warn',
      reason: `weakened defaults (logged and audited at every start): ${found.map((o) => `${o.setting} (${o.reason})`).join('; ')}.`,
      fix: 'restore the defaults; production refuses the unsafe ones (see their lines).',
    };
  },
};
