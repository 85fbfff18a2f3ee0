import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createConfig } from '../../src/config/index.js';

const DOC = readFileSync(new URL('../../docs/security.md', import.meta.url), 'utf8')
  // Prose is wrapped at 100 columns: a phrase may span lines.
  .replace(/\s+/g, ' ');
const defaults = createConfig({});

/** The value at a dotted config path. */
function at(path: string): unknown {
  return path
    .split('.')
    .reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], defaults);
}

/*
 * docs/security.md states the defaults reviewers rely on in its own words; docs/config.md is
 * generated from the schema, security.md is not. Each row: the phrase the document uses, and the
 * defaults it states. A changed default fails here until the document says the new one.
 */
const CLAIMS: [phrase: string, defaults: Record<string, unknown>][] = [
  ['100 KiB body limit (`http.bodyLimitBytes`)', { 'http.bodyLimitBytes': 102_400 }],
  ['30 s request timeout', { 'server.requestTimeoutMs': 30_000 }],
  [
    '| `general` | 300 / 60 s |',
    { 'rateLimit.general.points': 300, 'rateLimit.general.durationSeconds': 60 },
  ],
  [
    '| `auth` | 20 / 60 s, extra |',
    { 'rateLimit.auth.points': 20, 'rateLimit.auth.durationSeconds': 60 },
  ],
  [
    '| account + client | 5 failures / 15 min |',
    {
      'rateLimit.login.accountClientFailures': 5,
      'rateLimit.login.accountClientWindowSeconds': 900,
    },
  ],
  [
    '| client, across accounts | 50 failures / 1 h |',
    { 'rateLimit.login.clientFailures': 50, 'rateLimit.login.clientWindowSeconds': 3_600 },
  ],
  [
    '| account, across clients | 20 failures / 1 h free | attempts spaced by 1, 2, 4 … up to 30 s |',
    {
      'rateLimit.login.accountFreeFailures': 20,
      'rateLimit.login.accountWindowSeconds': 3_600,
      'rateLimit.login.accountMaxDelaySeconds': 30,
    },
  ],
  [
    '| wrong MFA codes of an account, across clients | 10 / 1 h |',
    { 'rateLimit.login.mfaFailures': 10, 'rateLimit.login.mfaWindowSeconds': 3_600 },
  ],
  ['`redis.onOutage=failOpen` (default)', { 'redis.onOutage': 'failOpen' }],
  [
    "argon2id with OWASP's parameters by default (m = 19 MiB, t = 2, p = 1;",
    {
      'passwords.argon2MemoryKiB': 19_456,
      'passwords.argon2Iterations': 2,
      'passwords.argon2Parallelism': 1,
    },
  ],
  [
    '12 to 128 characters (`passwords.minLength`/`maxLength`)',
    { 'passwords.minLength': 12, 'passwords.maxLength': 128 },
  ],
  [
    '(`email.passwordResetTtlSeconds`, 30 minutes; `email.verificationTtlSeconds`, 24 hours)',
    { 'email.passwordResetTtlSeconds': 1_800, 'email.verificationTtlSeconds': 86_400 },
  ],
  ['`email.changeEmailTtlSeconds` (1 hour)', { 'email.changeEmailTtlSeconds': 3_600 }],
  ['`email.perAccountPerHour` (5)', { 'email.perAccountPerHour': 5 }],
  ['15 min by default', { 'tokens.accessTokenTtlSeconds': 900 }],
  [
    'signing 10 minutes later (`tokens.keyPublishAheadSeconds`)',
    { 'tokens.keyPublishAheadSeconds': 600 },
  ],
  [
    "with an idle lifetime (14 days) and the session's absolute lifetime (30 days)",
    { 'tokens.refreshIdleTtlSeconds': 1_209_600, 'tokens.refreshAbsoluteTtlSeconds': 2_592_000 },
  ],
  ['`tokens.refreshReuseGraceSeconds` (10 s;', { 'tokens.refreshReuseGraceSeconds': 10 }],
  [
    '`access.recentSignInSeconds` ago (10 minutes by default)',
    { 'access.recentSignInSeconds': 600 },
  ],
  [
    '`access.privilegedRecentSignInSeconds` ago (1 hour by default)',
    { 'access.privilegedRecentSignInSeconds': 3_600 },
  ],
  [
    '`admin` → `users:read users:write audit:read keys:rotate`, `user` → nothing beyond itself',
    {
      'access.roles.admin': ['users:read', 'users:write', 'audit:read', 'keys:rotate'],
      'access.roles.user': [],
    },
  ],
];

describe('docs/security.md', () => {
  it.each(CLAIMS)('states the default of %s', (phrase, expected) => {
    expect(
      DOC.includes(phrase.replace(/\s+/g, ' ')),
      `docs/security.md no longer says: ${phrase}`,
    ).toBe(true);
    for (const [path, value] of Object.entries(expected))
      expect([path, at(path)]).toEqual([path, value]);
  });
});
