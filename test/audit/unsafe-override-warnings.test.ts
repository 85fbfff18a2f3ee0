import { describe, expect, it } from 'vitest';
import { buildTestApp } from '../helpers/app.js';

/*
 * A weakened default is recorded as a config.unsafe_override event, whose own log line is at
 * info like every successful event; an operator reading the warnings of a start must see it too
 * (docs/oidc.md: oidc.cookieSecure=false is "warned about" outside production).
 */
describe('weakened defaults at start', () => {
  it('each logs a warning naming the setting', async () => {
    const t = await buildTestApp({
      cors: { origins: ['*'] },
      metrics: { port: 0 },
      oidc: {
        cookieSecure: false,
        providers: {
          corp: {
            issuer: 'http://127.0.0.1:9/',
            clientId: 'bulwark',
            clientSecret: 'a client secret',
            redirectUri: 'http://127.0.0.1:3000/api/v1/auth/oidc/corp/callback',
            appUrls: ['http://127.0.0.1:3000/done'],
          },
        },
      },
      rateLimit: { enabled: false },
    });
    try {
      const warned = (setting: string): number =>
        t.logs.lines.filter(
          (l) => l.level === 'warn' && typeof l.msg === 'string' && l.msg.includes(setting),
        ).length;
      for (const setting of ['cors.origins', 'metrics.port', 'oidc.cookieSecure']) {
        expect(warned(setting), setting).toBe(1);
      }
      // Warned once, by its own more specific line.
      expect(warned('rateLimit.enabled')).toBe(1);
    } finally {
      await t.app.close();
    }
  });
});
