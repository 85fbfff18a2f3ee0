import { describe, expect, it } from 'vitest';
import { createConfig, loadConfig, type ConfigInput } from '../../src/config/index.js';
import { unsafeOverrides } from '../../src/config/unsafe-overrides.js';
import { ConfigError } from '../../src/errors.js';

function problemsOf(input: ConfigInput): string[] {
  try {
    createConfig(input);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

const google = {
  preset: 'google',
  clientId: 'id.apps.googleusercontent.com',
  clientSecret: 'GOCSPX-very-secret-value',
  redirectUri: 'https://api.example.com/api/v1/auth/oidc/google/callback',
  appUrls: ['https://app.example.com/signed-in'],
} as const;

const production = { env: 'production', keys: { masterKey: 'A'.repeat(43) + '=' } } as const;

describe('oidc config', () => {
  it('accepts the Google preset with secure defaults', () => {
    const config = createConfig({ ...production, oidc: { providers: { google } } });
    const provider = config.oidc.providers.google!;
    expect(provider.scopes).toEqual(['openid', 'email', 'profile']);
    expect(provider.allowLinkingVerifiedEmail).toBe(false);
    expect(config.oidc).toMatchObject({
      cookieSecure: true,
      loginTtlSeconds: 600,
      handoffTtlSeconds: 60,
    });
    expect(unsafeOverrides(config)).toEqual([]);
  });

  it('refuses plain-http issuers, callbacks and app URLs in production, and allows them elsewhere', () => {
    const local = {
      issuer: 'http://127.0.0.1:8080/realms/dev',
      clientId: 'bulwark',
      clientSecret: 'secret',
      redirectUri: 'http://127.0.0.1:3000/api/v1/auth/oidc/local/callback',
      appUrls: ['http://localhost:5173/'],
    };
    expect(() =>
      createConfig({ env: 'development', oidc: { providers: { local } } }),
    ).not.toThrow();
    const problems = problemsOf({ ...production, oidc: { providers: { local } } });
    expect(problems.join('\n')).toMatch(/issuer uses plain http in production/);
    expect(problems.join('\n')).toMatch(/redirectUri uses plain http in production/);
    expect(problems.join('\n')).toMatch(
      /appUrls has "http:\/\/localhost:5173\/", which uses plain http/,
    );
  });

  it('requires exactly one client credential, an issuer, openid, and the matching callback path', () => {
    const problems = problemsOf({
      oidc: {
        providers: {
          broken: {
            clientId: 'x',
            scopes: ['email'],
            redirectUri: 'https://api.example.com/callback',
            appUrls: ['https://app.example.com/#frag', 'javascript:alert(1)'],
          },
          both: { ...google, privateKeyFile: '/etc/key.pem' },
        },
      },
    }).join('\n');
    expect(problems).toMatch(/"broken" has neither preset nor issuer/);
    expect(problems).toMatch(/"broken" needs exactly one of clientSecret and privateKeyFile/);
    expect(problems).toMatch(/"both" needs exactly one of clientSecret and privateKeyFile/);
    expect(problems).toMatch(/"broken" scopes lack "openid"/);
    expect(problems).toMatch(
      /"broken" redirectUri must end in \/api\/v1\/auth\/oidc\/broken\/callback/,
    );
    expect(problems).toMatch(
      /"both" redirectUri must end in \/api\/v1\/auth\/oidc\/both\/callback/,
    );
    expect(problems).toMatch(/#frag", which has a #fragment/);
    expect(problems).toMatch(/javascript:alert\(1\)", which is not an http\(s\) URL/);
  });

  it('refuses insecure cookies in production and records them as an unsafe override elsewhere', () => {
    const problems = problemsOf({
      ...production,
      oidc: { providers: { google }, cookieSecure: false },
    });
    expect(problems.join('\n')).toMatch(/oidc.cookieSecure is false in production/);
    const dev = createConfig({ oidc: { providers: { google }, cookieSecure: false } });
    expect(unsafeOverrides(dev)).toContainEqual({
      setting: 'oidc.cookieSecure',
      reason: 'sign-in cookies are sent over plain http too',
    });
  });

  it('reads providers from the environment as JSON and never echoes the secret in an error', () => {
    const config = loadConfig({
      env: { BULWARK_OIDC_PROVIDERS: JSON.stringify({ google }) },
    });
    expect(config.oidc.providers.google?.clientId).toBe(google.clientId);
    try {
      loadConfig({
        env: { BULWARK_OIDC_PROVIDERS: JSON.stringify({ google: { ...google, extra: 1 } }) },
      });
      throw new Error('expected a ConfigError');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).message).not.toContain(google.clientSecret);
    }
  });
});
