import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { oidcFixture, type OidcFixture } from './support.js';

/* The sign-in routes are under the stricter `auth` rate-limit policy, like password logins. */

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
