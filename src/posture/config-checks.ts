import { unsafeOverrides } from '../config/unsafe-overrides.js';
import { isLoopbackHost } from '../config/loopback.js';
import { pass, productionFail, type Outcome, type PostureCheck } from './types.js';

/** OWASP's equivalent argon2id settings: memory (KiB) and the iterations it needs at least. */
const OWASP_ARGON2: [number, number][] = [
  [47_104, 1],
  [19_456, 2],
  [12_288, 3],
  [9_216, 4],
  [7_168, 5],
];
const ADMIN_PERMISSIONS = ['users:read', 'users:write', 'audit:read', 'keys:rotate'];

export const argon2Check: PostureCheck = {
  id: 'auth.argon2',
  line: 1,
  run(context) {
    const p = context.config.passwords;
    const settings = `argon2id m=${p.argon2MemoryKiB} KiB, t=${p.argon2Iterations}, p=${p.argon2Parallelism}`;
    const strong = OWASP_ARGON2.some(([m, t]) => p.argon2MemoryKiB >= m && p.argon2Iterations >= t);
    if (!strong) {
      return {
        status: productionFail(context),
        reason: `${settings} is below every OWASP minimum: stolen hashes are cheap to crack.`,
        fix: 'set passwords.argon2MemoryKiB=19456 and passwords.argon2Iterations=2 (the defaults).',
      };
    }
    return pass(`${settings} meets OWASP; ${context.config.tokens.algorithm} access tokens.`);
  },
};

export const tokenLifetimeCheck: PostureCheck = {
  id: 'auth.token-lifetime',
  line: 1,
  run(context) {
    const ttl = context.config.tokens.accessTokenTtlSeconds;
    if (ttl > 3_600) {
      return {
        status: 'warn',
        reason: `access tokens live ${ttl} s: one leaked from a client stays usable that long unless its session is ended.`,
        fix: 'keep tokens.accessTokenTtlSeconds at 900 (15 min) or less; clients refresh.',
      };
    }
    return pass(`access tokens live ${ttl} s; refresh tokens rotate on every use.`);
  },
};

export const accountRecoveryCheck: PostureCheck = {
  id: 'auth.account-recovery',
  line: 1,
  run(context) {
    const e = context.config.email;
    if (e.smtpUrl === undefined && e.outboxDir === undefined) {
      return pass(
        'no account e-mails: no password reset by link and no address verification; an operator resets a password with `bulwark user set-password`.',
      );
    }
    const outcomes: Outcome[] = [];
    if (e.passwordResetUrl !== undefined && e.passwordResetTtlSeconds > 3_600) {
      outcomes.push({
        status: 'warn',
        reason: `password reset links work for ${e.passwordResetTtlSeconds} s: a link read late, in a forwarded or shared mailbox, still takes the account.`,
        fix: 'keep email.passwordResetTtlSeconds at 1800 (30 min) or less.',
      });
    }
    if (e.perAccountPerHour > 20) {
      outcomes.push({
        status: 'warn',
        reason: `each account may be sent ${e.perAccountPerHour} e-mails an hour: anyone can flood a victim's mailbox through /password/forgot.`,
        fix: 'keep email.perAccountPerHour at 5 (the default) or close to it.',
      });
    }
    if (e.outboxDir !== undefined) {
      outcomes.push({
        status: productionFail(context),
        reason: `account e-mails are written to ${e.outboxDir}, never sent.`,
        fix: 'set email.smtpUrl (production refuses the outbox).',
      });
    }
    const features = [
      ...(e.passwordResetUrl === undefined ? [] : ['password reset']),
      ...(e.verifyEmailUrl === undefined ? [] : ['address verification']),
      ...(e.changeEmailUrl === undefined ? [] : ['address change']),
    ];
    return outcomes.length > 0
      ? outcomes
      : pass(
          `${features.length > 1 ? `${features.slice(0, -1).join(', ')} and ${features.at(-1)!}` : features.join('')} by e-mail over ${e.smtpUrl?.startsWith('smtps:') ? 'TLS' : 'STARTTLS (plain only on loopback)'}: single-use hashed links, ${e.passwordResetTtlSeconds} s for a reset, at most ${e.perAccountPerHour} e-mails per account an hour.`,
        );
  },
};

export const defaultRoleCheck: PostureCheck = {
  id: 'access.default-role',
  line: 2,
  run(context) {
    const { defaultRole, roles } = context.config.access;
    const granted = (roles[defaultRole] ?? []).filter((p) => ADMIN_PERMISSIONS.includes(p));
    if (granted.length > 0) {
      return {
        status: productionFail(context),
        reason: `self-registered users get role "${defaultRole}", which grants ${granted.join(', ')}: anyone who registers becomes an administrator.`,
        fix: 'set access.defaultRole to a role without admin permissions (the default "user").',
      };
    }
    return pass(
      `${Object.keys(roles).length} roles; self-registered users get "${defaultRole}" with no admin permission; objects are owner-only (404).`,
    );
  },
};

/** Where a provider URL points: plain http sends codes and tokens in clear. */
function plainHttp(url: string): boolean {
  return url.startsWith('http://');
}

export const oidcCheck: PostureCheck = {
  id: 'oidc.providers',
  line: 3,
  run(context) {
    const { providers, cookieSecure } = context.config.oidc;
    const names = Object.keys(providers);
    if (names.length === 0) {
      return pass('no external identity provider is configured: password login only.');
    }
    const outcomes: Outcome[] = [];
    for (const [name, p] of Object.entries(providers)) {
      const insecure = [
        ...(p.issuer !== undefined && plainHttp(p.issuer) ? ['issuer'] : []),
        ...(plainHttp(p.redirectUri) ? ['redirectUri'] : []),
        ...(p.appUrls.some(plainHttp) ? ['appUrls'] : []),
      ];
      if (insecure.length > 0) {
        outcomes.push({
          status: productionFail(context),
          reason: `provider "${name}" uses plain http for ${insecure.join(', ')}: authorization codes and one-time codes would cross the network in clear.`,
          fix: `use https:// URLs for oidc.providers.${name}.`,
        });
      }
      if (p.allowLinkingVerifiedEmail && p.preset !== 'google') {
        outcomes.push({
          status: 'warn',
          reason: `provider "${name}" links sign-ins to existing accounts by verified email: anyone who can make this provider vouch for an address takes over that account.`,
          fix: `keep oidc.providers.${name}.allowLinkingVerifiedEmail only if the provider verifies every address it asserts.`,
        });
      }
    }
    if (!cookieSecure) {
      outcomes.push({
        status: productionFail(context),
        reason: 'oidc.cookieSecure is false: the sign-in cookies would be sent over plain http.',
        fix: 'serve over HTTPS and leave oidc.cookieSecure true.',
      });
    }
    return outcomes.length > 0
      ? outcomes
      : pass(
          `${names.length} provider(s) (${names.join(', ')}): code flow with PKCE S256, state and nonce; ID tokens checked against the provider's JWKS; exact redirect and app URLs over https.`,
        );
  },
};

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
