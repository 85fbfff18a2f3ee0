import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { oidcFixture, type OidcFixture } from './support.js';

/* The sign-in routes under the `auth` rate-limit policy, and a provider that cannot be reached. */

let f: OidcFixture;

beforeAll(async () => {
  f = await oidcFixture([], {}, { rateLimit: { auth: { points: 3, durationSeconds: 60 } } });
});
afterAll(async () => {
  await f.close();
});

describe('rate limits on the OIDC routes', () => {
  it('answers 429 once a client has used up the auth policy across start, callback and exchange', async () => {
    const requests = [
      { method: 'GET' as const, url: '/api/v1/auth/oidc/test' },
      { method: 'GET' as const, url: '/api/v1/auth/oidc/test/callback?code=x&state=y' },
      {
        method: 'POST' as const,
        url: '/api/v1/auth/oidc/exchange',
        payload: { code: 'A'.repeat(43) },
      },
    ];
    const statuses = [];
    for (const request of requests) statuses.push((await f.app.inject(request)).statusCode);
    expect(statuses).toEqual([302, 400, 400]);
    for (const request of requests) {
      const res = await f.app.inject(request);
      expect(res.statusCode, request.url).toBe(429);
      expect(res.json<{ code: string }>().code).toBe('rate_limited');
    }
  });
});

describe('an unreachable provider', () => {
  let down: OidcFixture;
  beforeAll(async () => {
    // Nothing listens on port 9 (discard) on loopback: discovery fails at once.
    down = await oidcFixture([], { issuer: 'http://127.0.0.1:9' });
  });
  afterAll(async () => {
    await down.close();
  });

  it('answers 502 oidc_provider_unavailable, sets no cookie, and records why', async () => {
    for (let attempt = 0; attempt < 2; attempt++) {
      const res = await down.app.inject({ method: 'GET', url: '/api/v1/auth/oidc/test' });
      expect(res.statusCode).toBe(502);
      expect(res.json<{ code: string }>().code).toBe('oidc_provider_unavailable');
      expect(res.headers['set-cookie']).toBeUndefined();
    }
    const failed = down.logs.lines
      .map((l) => l.securityEvent as { type?: string; details?: unknown } | undefined)
      .filter((e) => e?.type === 'oidc.login_failed');
    expect(failed.map((e) => e!.details)).toEqual([
      { provider: 'test', reason: 'discovery_failed' },
      { provider: 'test', reason: 'discovery_failed' },
    ]);
  });
});
