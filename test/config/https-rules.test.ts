import { describe, expect, it } from 'vitest';
import { createConfig, loadConfig, type ConfigInput } from '../../src/config/index.js';
import { ConfigError } from '../../src/errors.js';

function problems(input: ConfigInput | { env: Record<string, string> }): string {
  try {
    if ('env' in input && typeof input.env === 'object') loadConfig({ env: input.env });
    else createConfig(input);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).message;
  }
  throw new Error('expected a ConfigError');
}

describe('HTTPS settings', () => {
  it('default to no TLS, TLS 1.2 minimum, one-year HSTS without preload, no redirect listener', () => {
    const config = createConfig({});
    expect(config.tls).toEqual({ minVersion: 'TLSv1.2' });
    expect(config.hsts).toEqual({ maxAgeSeconds: 31_536_000, preload: false });
    expect(config.server.httpRedirectPort).toBeUndefined();
    expect(config.server.publicOrigin).toBeUndefined();
    expect(config.docs.publicInProduction).toBe(false);
  });

  it('are read from the environment', () => {
    const config = loadConfig({
      env: {
        BULWARK_TLS_CERT_FILE: '/etc/tls/cert.pem',
        BULWARK_TLS_KEY_FILE: '/etc/tls/key.pem',
        BULWARK_TLS_MIN_VERSION: 'TLSv1.3',
        BULWARK_SERVER_PUBLIC_ORIGIN: 'https://api.example.com',
        BULWARK_SERVER_HTTP_REDIRECT_PORT: '8080',
        BULWARK_HSTS_PRELOAD: 'true',
      },
    });
    expect(config.tls).toMatchObject({ certFile: '/etc/tls/cert.pem', minVersion: 'TLSv1.3' });
    expect(config.server).toMatchObject({
      publicOrigin: 'https://api.example.com',
      httpRedirectPort: 8080,
    });
    expect(config.hsts.preload).toBe(true);
  });

  it.each<[string, ConfigInput, RegExp]>([
    [
      'a certificate without a key',
      { tls: { certFile: 'c.pem' } },
      /tls\.certFile is set without tls\.keyFile/,
    ],
    [
      'a key without a certificate',
      { tls: { keyFile: 'k.pem' } },
      /tls\.keyFile is set without tls\.certFile/,
    ],
    [
      'a passphrase without a key',
      { tls: { passphrase: 'x' } },
      /tls\.passphrase is set without tls\.keyFile/,
    ],
    ['TLS 1.1', { tls: { minVersion: 'TLSv1.1' as 'TLSv1.2' } }, /tls\.minVersion/],
    [
      'an http public origin',
      { server: { publicOrigin: 'http://api.example.com' } },
      /not an https origin/,
    ],
    [
      'a public origin with a path',
      { server: { publicOrigin: 'https://api.example.com/app' } },
      /not an https origin/,
    ],
    [
      'a redirect listener without a public origin',
      { server: { httpRedirectPort: 80 } },
      /open redirect.*Fix: set server\.publicOrigin/,
    ],
    [
      'a redirect listener on the service port',
      { server: { port: 8443, httpRedirectPort: 8443, publicOrigin: 'https://a.example' } },
      /server\.httpRedirectPort equals server\.port/,
    ],
    [
      'a redirect listener on the metrics port',
      {
        server: { httpRedirectPort: 9464, publicOrigin: 'https://a.example' },
        metrics: { port: 9464 },
      },
      /server\.httpRedirectPort equals metrics\.port/,
    ],
    ['HSTS below a day', { hsts: { maxAgeSeconds: 300 } }, /hsts\.maxAgeSeconds/],
    [
      'preload with a short max-age',
      { hsts: { maxAgeSeconds: 86_400, preload: true } },
      /preload lists require at least one year/,
    ],
  ])('refuses %s', (_label, input, message) => {
    expect(problems(input)).toMatch(message);
  });

  it('never echoes the TLS passphrase in an error', () => {
    const text = problems({ env: { BULWARK_TLS_PASSPHRASE: 'x'.repeat(2000) } });
    expect(text).toContain('<redacted>');
    expect(text).not.toContain('xxxxxxxx');
  });
});
