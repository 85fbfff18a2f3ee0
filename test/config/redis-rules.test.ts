import { describe, expect, it } from 'vitest';
import { createConfig, loadConfig } from '../../src/config/index.js';
import { ConfigError } from '../../src/errors.js';

describe('redis and rateLimit settings', () => {
  it('defaults to the memory store, failOpen, and the documented limits', () => {
    const config = createConfig({});
    expect(config.redis.url).toBeUndefined();
    expect(config.redis.onOutage).toBe('failOpen');
    expect(config.rateLimit).toMatchObject({
      enabled: true,
      general: { points: 300, durationSeconds: 60 },
      login: { accountClientFailures: 5, accountClientWindowSeconds: 900 },
    });
  });

  it('reads REDIS_URL', () => {
    const config = loadConfig({ env: { REDIS_URL: 'redis://127.0.0.1:6380' } });
    expect(config.redis.url).toBe('redis://127.0.0.1:6380');
  });

  it('refuses a URL that is not redis:// or rediss://, without echoing it', () => {
    let error: unknown;
    try {
      loadConfig({ env: { REDIS_URL: 'http://user:secret@cache:6379' } });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toMatch(/REDIS_URL.*not a Redis URL/);
    expect((error as ConfigError).message).not.toContain('secret');
  });

  it('refuses an unknown outage mode and a zero limit', () => {
    expect(() => loadConfig({ env: { BULWARK_REDIS_ON_OUTAGE: 'ignore' } })).toThrow(
      /BULWARK_REDIS_ON_OUTAGE/,
    );
    expect(() => loadConfig({ env: { BULWARK_RATE_LIMIT_GENERAL_POINTS: '0' } })).toThrow(
      /BULWARK_RATE_LIMIT_GENERAL_POINTS/,
    );
  });
});
