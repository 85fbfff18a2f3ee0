import { describe, expect, it } from 'vitest';
import { createConfig, loadConfig } from '../../src/config/index.js';
import { ConfigError } from '../../src/errors.js';

const RESET = 'https://app.example.com/reset-password';
const VERIFY = 'https://app.example.com/verify-email';

function problems(env: Record<string, string>): string {
  try {
    loadConfig({ env });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).message;
  }
  throw new Error('the config was accepted');
}

describe('email settings', () => {
  it('sends nothing by default, with the documented limits', () => {
    const config = createConfig({});
    expect(config.email).toMatchObject({
      from: 'Bulwark <no-reply@localhost>',
      passwordResetTtlSeconds: 1_800,
      verificationTtlSeconds: 86_400,
      changeEmailTtlSeconds: 3_600,
      perAccountPerHour: 5,
      maxAttempts: 3,
    });
    expect(config.email.smtpUrl).toBeUndefined();
    expect(config.email.outboxDir).toBeUndefined();
    expect(config.email.changeEmailUrl).toBeUndefined();
  });

  it('takes an address change page alone, and holds it to the rules of the other link pages', () => {
    const change = 'https://app.example.com/change-email';
    const only = loadConfig({
      env: { BULWARK_EMAIL_OUTBOX_DIR: '/tmp/outbox', BULWARK_EMAIL_CHANGE_EMAIL_URL: change },
    });
    expect(only.email.changeEmailUrl).toBe(change);
    expect(problems({ BULWARK_EMAIL_CHANGE_EMAIL_URL: change })).toMatch(
      /BULWARK_EMAIL_CHANGE_EMAIL_URL is set, but nothing sends e-mail/,
    );
    const base = { BULWARK_EMAIL_OUTBOX_DIR: '/tmp/outbox' };
    expect(
      problems({ ...base, BULWARK_EMAIL_CHANGE_EMAIL_URL: 'https://app.example.com/c#x' }),
    ).toMatch(/has a #fragment/);
    expect(
      problems({
        NODE_ENV: 'production',
        BULWARK_MASTER_KEY: Buffer.alloc(32, 7).toString('base64'),
        BULWARK_EMAIL_SMTP_URL: 'smtps://smtp.example.com:465',
        BULWARK_EMAIL_FROM: 'Example <no-reply@example.com>',
        BULWARK_EMAIL_CHANGE_EMAIL_URL: 'http://app.example.com/change-email',
      }),
    ).toMatch(/BULWARK_EMAIL_CHANGE_EMAIL_URL is .*plain http in production/);
    expect(
      problems({
        ...base,
        BULWARK_EMAIL_CHANGE_EMAIL_URL: change,
        BULWARK_EMAIL_CHANGE_EMAIL_TTL_SECONDS: '60',
      }),
    ).toMatch(/BULWARK_EMAIL_CHANGE_EMAIL_TTL_SECONDS/);
  });

  it('accepts SMTP with a reset page, and the outbox with a verification page', () => {
    const smtp = loadConfig({
      env: {
        BULWARK_EMAIL_SMTP_URL: 'smtps://mailer:s3cret@smtp.example.com:465',
        BULWARK_EMAIL_PASSWORD_RESET_URL: RESET,
      },
    });
    expect(smtp.email.passwordResetUrl).toBe(RESET);
    const outbox = loadConfig({
      env: { BULWARK_EMAIL_OUTBOX_DIR: '/tmp/outbox', BULWARK_EMAIL_VERIFY_EMAIL_URL: VERIFY },
    });
    expect(outbox.email.verifyEmailUrl).toBe(VERIFY);
  });

  it('refuses a URL that is not smtp:// or smtps://, without echoing its password', () => {
    const message = problems({
      BULWARK_EMAIL_SMTP_URL: 'https://mailer:s3cret@smtp.example.com',
      BULWARK_EMAIL_PASSWORD_RESET_URL: RESET,
    });
    expect(message).toMatch(/BULWARK_EMAIL_SMTP_URL.*not an SMTP URL/);
    expect(message).not.toContain('s3cret');
  });

  it('refuses SMTP and the outbox together, and a CA file without SMTP', () => {
    expect(
      problems({
        BULWARK_EMAIL_SMTP_URL: 'smtp://127.0.0.1:2525',
        BULWARK_EMAIL_OUTBOX_DIR: '/tmp/outbox',
        BULWARK_EMAIL_PASSWORD_RESET_URL: RESET,
      }),
    ).toMatch(/both set/);
    expect(
      problems({
        BULWARK_EMAIL_SMTP_CA_FILE: '/etc/ssl/ca.pem',
        BULWARK_EMAIL_OUTBOX_DIR: '/tmp/outbox',
        BULWARK_EMAIL_PASSWORD_RESET_URL: RESET,
      }),
    ).toMatch(/BULWARK_EMAIL_SMTP_CA_FILE is set without email\.smtpUrl/);
  });

  it('refuses a link page with nothing to send it', () => {
    expect(problems({ BULWARK_EMAIL_PASSWORD_RESET_URL: RESET })).toMatch(
      /BULWARK_EMAIL_PASSWORD_RESET_URL is set, but nothing sends e-mail/,
    );
  });

  it('takes a sender with no link page: it sends the security notices', () => {
    for (const env of [
      { BULWARK_EMAIL_SMTP_URL: 'smtp://127.0.0.1:2525' },
      { BULWARK_EMAIL_OUTBOX_DIR: '/tmp/outbox' },
    ]) {
      const config = loadConfig({ env });
      expect(config.email.passwordResetUrl).toBeUndefined();
    }
  });

  it('refuses link pages that are not http(s), hold credentials or a fragment', () => {
    const base = { BULWARK_EMAIL_OUTBOX_DIR: '/tmp/outbox' };
    expect(problems({ ...base, BULWARK_EMAIL_PASSWORD_RESET_URL: 'javascript:alert(1)' })).toMatch(
      /not an http\(s\) URL/,
    );
    expect(
      problems({ ...base, BULWARK_EMAIL_VERIFY_EMAIL_URL: 'https://u:p@app.example.com/v' }),
    ).toMatch(/contains credentials/);
    expect(
      problems({ ...base, BULWARK_EMAIL_VERIFY_EMAIL_URL: 'https://app.example.com/v#x' }),
    ).toMatch(/has a #fragment/);
  });

  it('refuses in production: the outbox, plain-http link pages and a From on localhost', () => {
    const production = {
      NODE_ENV: 'production',
      BULWARK_MASTER_KEY: Buffer.alloc(32, 7).toString('base64'),
    };
    const message = problems({
      ...production,
      BULWARK_EMAIL_OUTBOX_DIR: '/tmp/outbox',
      BULWARK_EMAIL_PASSWORD_RESET_URL: 'http://app.example.com/reset',
    });
    expect(message).toMatch(/BULWARK_EMAIL_OUTBOX_DIR is set in production/);
    expect(message).toMatch(/plain http in production/);
    expect(message).toMatch(/email\.from is .*localhost/);
  });

  it('refuses a From with a line break (header injection)', () => {
    expect(
      problems({
        BULWARK_EMAIL_OUTBOX_DIR: '/tmp/outbox',
        BULWARK_EMAIL_PASSWORD_RESET_URL: RESET,
        BULWARK_EMAIL_FROM: 'x@example.com\r\nBcc: victim@example.com',
      }),
    ).toMatch(/BULWARK_EMAIL_FROM/);
  });

  it('refuses an SMTP URL with a path, query or fragment, without echoing its password', () => {
    for (const url of [
      'smtp://u:s3cret@smtp.example.com:587/?tls.rejectUnauthorized=false',
      'smtps://u:s3cret@smtp.example.com/relay',
      'smtps://u:s3cret@smtp.example.com#x',
    ]) {
      const message = problems({
        BULWARK_EMAIL_SMTP_URL: url,
        BULWARK_EMAIL_PASSWORD_RESET_URL: RESET,
      });
      expect(message).toMatch(/BULWARK_EMAIL_SMTP_URL must be scheme:\/\/\[user:password@\]host/);
      expect(message).not.toContain('s3cret');
    }
  });
});
