import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createConfig, type ConfigInput } from '../../src/config/index.js';
import { ConfigError } from '../../src/errors.js';
import {
  assertProductionPosture,
  checklistRows,
  CHECKLIST,
  evaluatePosture,
  POSTURE_CHECKS,
  type Finding,
} from '../../src/posture/index.js';
import { caIssuedCertFiles, devCertFiles, tempDir, type CertFiles } from '../helpers/tls.js';

const DAY = 86_400_000;
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
function dir(): string {
  const d = tempDir('bulwark-posture-');
  dirs.push(d);
  return d;
}

const PROD: ConfigInput = {
  env: 'production',
  keys: { masterKey: randomBytes(32).toString('base64'), devKeyFile: '/nonexistent/dev-key.json' },
  server: { trustProxy: ['10.0.0.5'] },
  docs: { enabled: false },
  metrics: { token: 'x'.repeat(40) },
};

function findings(
  input: ConfigInput,
  options: Parameters<typeof evaluatePosture>[1] = {},
): Finding[] {
  return evaluatePosture(createConfig(input), {
    nodeVersion: '22.11.0',
    now: new Date(),
    ...options,
  });
}
const of = (all: Finding[], check: string): Finding[] => all.filter((f) => f.check === check);

describe('posture checks', () => {
  it('belong to checklist lines that exist, and every line has at least one check', () => {
    const lines = new Set(CHECKLIST.map((c) => c.line));
    for (const check of POSTURE_CHECKS) expect(lines.has(check.line), check.id).toBe(true);
    for (const line of lines)
      expect(
        POSTURE_CHECKS.some((c) => c.line === line),
        `line ${line}`,
      ).toBe(true);
  });

  it('pass a hardened production config', () => {
    const all = findings(PROD);
    expect(all.filter((f) => f.status === 'fail')).toEqual([]);
    expect(() => assertProductionPosture(createConfig(PROD))).not.toThrow();
  });

  it('say warn, not fail, for the same weaknesses outside production', () => {
    const weak: ConfigInput = {
      keys: {},
      cors: { origins: ['*'] },
      rateLimit: { enabled: false },
      metrics: { port: 9464 },
      access: { defaultRole: 'admin' },
      passwords: { argon2MemoryKiB: 1024, argon2Iterations: 1 },
    };
    const dev = findings({ ...weak, env: 'development' });
    for (const id of [
      'keys.master',
      'cors.origins',
      'rate-limit.enabled',
      'metrics.exposure',
      'access.default-role',
      'auth.argon2',
      'https.transport',
    ]) {
      expect(of(dev, id)[0]?.status, id).toBe('warn');
    }
    const prod = findings({ ...weak, env: 'production', docs: { enabled: false } });
    for (const id of [
      'keys.master',
      'cors.origins',
      'rate-limit.enabled',
      'metrics.exposure',
      'access.default-role',
      'auth.argon2',
      'https.transport',
    ]) {
      expect(of(prod, id)[0]?.status, id).toBe('fail');
    }
    // Outside production the refusal never applies, whatever the checks say.
    expect(() =>
      assertProductionPosture(createConfig({ ...weak, env: 'development' })),
    ).not.toThrow();
    expect(() => assertProductionPosture(createConfig({ ...weak, env: 'production' }))).toThrow(
      ConfigError,
    );
  });

  it('accepts the OWASP argon2id alternatives and refuses what is below all of them', () => {
    const status = (m: number, t: number) =>
      of(
        findings({ ...PROD, passwords: { argon2MemoryKiB: m, argon2Iterations: t } }),
        'auth.argon2',
      )[0]!.status;
    expect(status(47_104, 1)).toBe('pass');
    expect(status(19_456, 2)).toBe('pass');
    expect(status(7_168, 5)).toBe('pass');
    expect(status(19_456, 1)).toBe('fail');
    expect(status(7_000, 20)).toBe('fail');
  });

  it('reads a key file and refuses one that others may read', () => {
    const d = dir();
    const path = join(d, 'key.json');
    writeFileSync(
      path,
      JSON.stringify({ current: 1, keys: { 1: randomBytes(32).toString('base64') } }),
      { mode: 0o600 },
    );
    const ok = findings({
      ...PROD,
      keys: { masterKeyFile: path, devKeyFile: join(d, 'dev.json') },
    });
    expect(of(ok, 'keys.master')[0]).toMatchObject({ status: 'pass' });
    chmodSync(path, 0o644);
    const open = findings({
      ...PROD,
      keys: { masterKeyFile: path, devKeyFile: join(d, 'dev.json') },
    });
    expect(of(open, 'keys.master')[0]).toMatchObject({ status: 'fail' });
    expect(of(open, 'keys.master')[0]!.reason).toMatch(/accessible by group or others/);
  });

  it('fails a development key file that the service would refuse, and not a missing one', () => {
    const d = dir();
    const devKeyFile = join(d, 'dev.json');
    const dev: ConfigInput = { env: 'development', keys: { devKeyFile } };
    // Not there yet: serve creates it, so only the development warning.
    expect(of(findings(dev), 'keys.master').map((f) => f.status)).toEqual(['warn']);
    writeFileSync(
      devKeyFile,
      JSON.stringify({ current: 1, keys: { 1: randomBytes(32).toString('base64') } }),
      { mode: 0o600 },
    );
    expect(of(findings(dev), 'keys.master').map((f) => f.status)).toEqual(['warn']);
    chmodSync(devKeyFile, 0o644);
    const open = of(findings(dev), 'keys.master');
    expect(open.map((f) => f.status)).toEqual(['fail', 'warn']);
    expect(open[0]!.reason).toBe(
      `the development key file ${devKeyFile} is readable by group or others (mode 0644), so the service refuses to start.`,
    );
    expect(open[0]!.fix).toBe(`chmod 600 ${devKeyFile}`);
    writeFileSync(devKeyFile, '{"current": 1}', { mode: 0o600 });
    chmodSync(devKeyFile, 0o600);
    expect(of(findings(dev), 'keys.master')[0]).toMatchObject({
      status: 'fail',
      reason: expect.stringContaining('so the service refuses to start') as string,
    });
  });

  it('buildApp refuses a --config file with secrets that others can read, given as configFile', async () => {
    const d = dir();
    const path = join(d, 'bulwark.json');
    writeFileSync(path, JSON.stringify(PROD), { mode: 0o644 });
    chmodSync(path, 0o644);
    // In the temp dir: were the check skipped, buildApp would go on to create the database.
    const config = createConfig({ ...PROD, database: { sqlitePath: join(d, 'bulwark.db') } });
    const { buildApp } = await import('../../src/app.js');
    const refused = await buildApp(config, { configFile: path }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ConfigError);
    expect((refused as ConfigError).message).toMatch(
      /\[production, checklist 9\] --config .*bulwark\.json holds secrets and is readable by group or others \(mode 0644\)\. Fix: chmod 600/,
    );
    // Without the file, the same settings pass (what every caller got before configFile existed).
    expect(() => assertProductionPosture(config)).not.toThrow();
  });

  it('judges a --config file by the secrets in the file, not those the environment adds', () => {
    const d = dir();
    const path = join(d, 'bulwark.json');
    // The systemd or container setup: secrets from the environment, a world-readable file without
    // any. The config evaluated still holds the master key and the metrics token (PROD), from
    // elsewhere than the file.
    writeFileSync(path, JSON.stringify({ server: { trustProxy: ['10.0.0.5'] } }), { mode: 0o644 });
    chmodSync(path, 0o644);
    expect(of(findings(PROD, { configFile: path }), 'keys.file-modes')).toEqual([
      expect.objectContaining({ status: 'pass' }),
    ]);
    // Each secret setting in the file makes the same mode a fail, wherever it sits.
    for (const inFile of [
      { keys: { masterKey: 'a' } },
      { metrics: { token: 't' } },
      { audit: { webhook: { secret: 's' } } },
      { database: { url: 'postgres://u:p@db/app' } },
      { tls: { passphrase: 'p' } },
      { oidc: { providers: { corp: { issuer: 'https://id.example', clientSecret: 'c' } } } },
    ]) {
      writeFileSync(path, JSON.stringify(inFile));
      expect(
        of(findings(PROD, { configFile: path }), 'keys.file-modes'),
        JSON.stringify(inFile),
      ).toEqual([expect.objectContaining({ status: 'fail' })]);
    }
    // A name that only looks like a secret setting's, or one inherited, is not one.
    writeFileSync(path, JSON.stringify({ keys: { masterKeyFile: '/etc/k.json' }, token: 'x' }));
    expect(of(findings(PROD, { configFile: path }), 'keys.file-modes')[0]!.status).toBe('pass');
    // A file that is not JSON (reported on its own when the config is loaded) counts as holding
    // secrets: the mode check stays on.
    writeFileSync(path, '{ not json');
    expect(of(findings(PROD, { configFile: path }), 'keys.file-modes')[0]!.status).toBe('fail');
  });

  it('finds a weak version among several keys', () => {
    const value = `2:${randomBytes(32).toString('base64')},1:${Buffer.alloc(32, 5).toString('base64')}`;
    const found = of(
      findings({ ...PROD, keys: { masterKey: value, devKeyFile: '/nonexistent' } }),
      'keys.master',
    );
    expect(found).toHaveLength(1);
    expect(found[0]!.reason).toMatch(/version 1 is not 32 bytes of real entropy/);
    expect(found[0]!.reason).not.toContain(Buffer.alloc(32, 5).toString('base64'));
  });
});

describe('certificate checks', () => {
  let issued: CertFiles;
  const tlsInput = (cert: CertFiles, publicOrigin?: string): ConfigInput => ({
    ...PROD,
    server: { trustProxy: [], ...(publicOrigin ? { publicOrigin } : {}) },
    tls: { certFile: cert.certFile, keyFile: cert.keyFile },
  });

  it('passes a CA-issued certificate that matches its key and the public host', () => {
    issued = caIssuedCertFiles({ dir: dir(), hosts: ['api.example.test'] });
    const found = of(findings(tlsInput(issued, 'https://api.example.test')), 'https.transport');
    expect(found).toEqual([expect.objectContaining({ status: 'pass' })]);
  });

  it('fails a certificate that does not cover the public origin', () => {
    const found = of(findings(tlsInput(issued, 'https://other.example.test')), 'https.transport');
    expect(found[0]).toMatchObject({ status: 'fail' });
    expect(found[0]!.reason).toContain('not valid for other.example.test');
  });

  it('warns 30 days before expiry, fails once expired or not yet valid', () => {
    const input = tlsInput(issued);
    const notAfter = Date.now() + 90 * DAY;
    const at = (ms: number) => of(findings(input, { now: new Date(ms) }), 'https.transport')[0]!;
    expect(at(notAfter - 40 * DAY).status).toBe('pass');
    expect(at(notAfter - 10 * DAY)).toMatchObject({ status: 'warn' });
    expect(at(notAfter - 10 * DAY).reason).toMatch(/expires in (9|10) day/);
    // Under two days it counts hours: a floor of days said "0 day(s)" 23 hours before expiry.
    expect(at(notAfter - 23 * 3_600_000 - 60_000).reason).toMatch(/expires in 2[23] hours, on/);
    expect(at(notAfter - 90 * 60_000).reason).toMatch(/expires in 1 hour, on/);
    expect(at(notAfter + DAY)).toMatchObject({ status: 'fail' });
    expect(at(notAfter + DAY).reason).toContain('expired on');
    expect(at(Date.now() - 2 * DAY).reason).toContain('is not valid before');
  });

  it('fails a development certificate in production, warns in development', () => {
    const dev = devCertFiles(dir());
    const prod = of(findings(tlsInput(dev)), 'https.transport');
    expect(prod).toContainEqual(
      expect.objectContaining({
        status: 'fail',
        reason: expect.stringContaining('bulwark dev-cert'),
      }),
    );
    const local = of(findings({ ...tlsInput(dev), env: 'development' }), 'https.transport');
    expect(local.map((f) => f.status)).not.toContain('fail');
    expect(local).toContainEqual(
      expect.objectContaining({
        status: 'warn',
        reason: expect.stringContaining('bulwark dev-cert'),
      }),
    );
  });

  // docs/security.md "Production posture", line 8: RSA keys under 2048 bits are refused.
  it('fails a certificate whose RSA key is under 2048 bits in production, warns elsewhere', () => {
    const weak = caIssuedCertFiles({ dir: dir(), hosts: ['api.example.test'], rsaBits: 1024 });
    const input = tlsInput(weak, 'https://api.example.test');
    const reason = expect.stringContaining("the certificate's RSA key has 1024 bits");
    expect(of(findings(input), 'https.transport')).toContainEqual(
      expect.objectContaining({ status: 'fail', reason }),
    );
    // OpenSSL 3.5 (Node.js 24) refuses such a key for TLS altogether: then it cannot serve at
    // all, which fails in every environment; OpenSSL 3.0 (Node.js 20, 22) serves it.
    const servable = (() => {
      try {
        createSecureContext({ cert: readFileSync(weak.certFile), key: readFileSync(weak.keyFile) });
        return true;
      } catch {
        return false;
      }
    })();
    expect(of(findings({ ...input, env: 'development' }), 'https.transport')).toContainEqual(
      expect.objectContaining({ status: servable ? 'warn' : 'fail', reason }),
    );
    expect(() => assertProductionPosture(createConfig(input))).toThrow(/RSA key has 1024 bits/);
  });

  it('fails files that cannot be used, in any environment', () => {
    const d = dir();
    const missing = {
      ...PROD,
      tls: { certFile: join(d, 'none.pem'), keyFile: join(d, 'none-key.pem') },
    };
    for (const env of ['production', 'development'] as const) {
      const found = of(findings({ ...missing, env }), 'https.transport')[0]!;
      expect(found.status).toBe('fail');
      expect(found.reason).toContain('cannot be read (ENOENT)');
    }
  });

  it('flags a TLS key file others can read', () => {
    const cert = caIssuedCertFiles({ dir: dir() });
    chmodSync(cert.keyFile, 0o640);
    const found = of(findings(tlsInput(cert)), 'keys.file-modes')[0]!;
    expect(found).toMatchObject({ status: 'fail', fix: `chmod 600 ${cert.keyFile}` });
  });
});

describe('configuration checks', () => {
  it('warns about wide trusted-proxy ranges', () => {
    const found = of(
      findings({ ...PROD, server: { trustProxy: ['10.0.0.0/8', '192.168.1.0/24'] } }),
      'https.trust-proxy',
    );
    expect(found[0]).toMatchObject({ status: 'warn' });
    expect(found[0]!.reason).toContain('10.0.0.0/8');
    expect(found[0]!.reason).not.toContain('192.168.1.0/24');
  });

  it('warns about unencrypted backends off the host, not on loopback', () => {
    const remote = findings({
      ...PROD,
      database: { url: 'postgres://u:p@db.internal:5432/app' },
      redis: { url: 'redis://cache.internal:6379' },
    });
    const reasons = of(remote, 'https.backends')
      .map((f) => f.reason)
      .join('\n');
    expect(reasons).toContain('db.internal without sslmode=verify-full');
    expect(reasons).toContain('cache.internal over plain redis://');
    expect(reasons).not.toContain(':p@');
    const local = findings({
      ...PROD,
      database: { url: 'postgres://u:p@127.0.0.1/app' },
      redis: { url: 'redis://localhost:6379' },
    });
    expect(of(local, 'https.backends')[0]!.status).toBe('pass');
    const secure = findings({
      ...PROD,
      database: { url: 'postgres://db.internal/app?sslmode=verify-full' },
      redis: { url: 'rediss://cache.internal' },
    });
    expect(of(secure, 'https.backends')[0]!.status).toBe('pass');
    const socket = findings({ ...PROD, database: { url: 'postgres:///app?host=/run/postgresql' } });
    expect(of(socket, 'https.backends')[0]!.status).toBe('pass');
  });

  // docs/security.md "Production posture", line 8: a plain-http audit webhook is refused.
  it('refuses a plain-http audit webhook in production, and warns about it elsewhere', () => {
    const webhook = { url: 'http://siem.example.test/hook', secret: 's'.repeat(32) };
    expect(() => createConfig({ ...PROD, audit: { webhook } })).toThrow(
      /audit\.webhook\.url.* uses plain http in production/,
    );
    const dev = findings({ ...PROD, env: 'development', audit: { webhook } });
    expect(of(dev, 'https.backends')).toContainEqual(
      expect.objectContaining({
        status: 'warn',
        reason: expect.stringContaining('audit.webhook.url uses plain http'),
      }),
    );
    const secure = findings({
      ...PROD,
      audit: { webhook: { ...webhook, url: 'https://siem.example.test/hook' } },
    });
    expect(of(secure, 'https.backends')[0]!.status).toBe('pass');
  });

  it('judges the host a backend is really reached at, not what its name looks like', () => {
    // 127.example.com is a DNS name like any other; node-postgres connects to a `host` query
    // parameter rather than the URL's host name.
    const lookalike = findings({
      ...PROD,
      database: { url: 'postgres://u:p@127.db.example.com/app' },
      redis: { url: 'redis://127.cache.example.com:6379' },
    });
    const reasons = of(lookalike, 'https.backends')
      .map((f) => f.reason)
      .join('\n');
    expect(reasons).toContain('127.db.example.com without sslmode=verify-full');
    expect(reasons).toContain('127.cache.example.com over plain redis://');
    const overridden = findings({
      ...PROD,
      database: { url: 'postgres://u:p@localhost/app?host=db.internal' },
    });
    expect(of(overridden, 'https.backends')[0]).toMatchObject({ status: 'warn' });
    expect(of(overridden, 'https.backends')[0]!.reason).toContain('db.internal without');
    const plainOrigin = findings({
      ...PROD,
      cors: { origins: ['http://127.app.example.com'] },
    });
    expect(of(plainOrigin, 'cors.origins')[0]).toMatchObject({ status: 'warn' });
  });

  it('warns about an end-of-life or odd-numbered Node.js', () => {
    const at = (v: string, now: string) =>
      of(findings(PROD, { nodeVersion: v, now: new Date(now) }), 'deps.node-runtime')[0]!;
    expect(at('20.20.2', '2026-01-01').status).toBe('pass');
    expect(at('20.20.2', '2026-11-28')).toMatchObject({ status: 'warn' });
    expect(at('23.1.0', '2026-01-01')).toMatchObject({ status: 'warn' });
    expect(at('22.11.0', '2026-11-28').status).toBe('pass');
  });

  it('warns about long-lived access tokens and a signing key that signs before verifiers can know it', () => {
    const check = (tokens: ConfigInput['tokens']) =>
      of(findings({ ...PROD, tokens }), 'auth.token-lifetime')[0]!;
    expect(check({})).toMatchObject({
      status: 'pass',
      reason: expect.stringContaining('published 600 s before it signs'),
    });
    expect(check({ accessTokenTtlSeconds: 7_200 })).toMatchObject({
      status: 'warn',
      reason: expect.stringContaining('access tokens live 7200 s'),
    });
    // The JWKS may be cached for 300 s, from an instance that re-reads its keys every minute.
    expect(check({ keyPublishAheadSeconds: 360 }).status).toBe('pass');
    for (const keyPublishAheadSeconds of [0, 359]) {
      expect(check({ keyPublishAheadSeconds })).toMatchObject({
        status: 'warn',
        reason: expect.stringContaining(`signs ${keyPublishAheadSeconds} s after it is published`),
        fix: 'set tokens.keyPublishAheadSeconds to 360 or more (the default is 600).',
      });
    }
  });

  it('warns about a version past its sunset', () => {
    const input = {
      ...PROD,
      api: {
        deprecations: {
          '1': { deprecatedAt: '2026-01-01T00:00:00Z', sunsetAt: '2026-06-01T00:00:00Z' },
        },
      },
    };
    expect(
      of(findings(input, { now: new Date('2026-05-01') }), 'versioning.deprecations')[0]!.status,
    ).toBe('pass');
    expect(
      of(findings(input, { now: new Date('2026-07-01') }), 'versioning.deprecations')[0]!.status,
    ).toBe('warn');
  });

  it('lets production publish docs only when told to', () => {
    expect(of(findings({ ...PROD, docs: { enabled: true } }), 'docs.exposure')[0]!.status).toBe(
      'fail',
    );
    expect(
      of(
        findings({ ...PROD, docs: { enabled: true, publicInProduction: true } }),
        'docs.exposure',
      )[0]!.status,
    ).toBe('pass');
  });

  it('rolls findings up into the 17 checklist lines, worst first', () => {
    const rows = checklistRows(
      findings({ ...PROD, cors: { origins: ['*'] }, log: { level: 'error' } }),
    );
    expect(rows.map((r) => r.line)).toEqual(CHECKLIST.map((c) => c.line));
    expect(rows.find((r) => r.line === 14)!.status).toBe('fail');
    const logging = rows.find((r) => r.line === 12)!;
    expect(logging.status).toBe('warn');
    expect(logging.findings[0]!.check).toBe('logging.level');
  });
  it('report the recent sign-in windows on line 2, in friendly units, as a pass', () => {
    const line2 = (access: ConfigInput['access'] = {}) => {
      const found = of(findings({ ...PROD, access }), 'access.default-role');
      expect(found).toHaveLength(1);
      expect(found[0]!.line).toBe(2);
      expect(found[0]!.status).toBe('pass');
      return found[0]!.reason;
    };
    expect(line2()).toMatch(
      /; account deletion needs a sign-in within the last 10 minutes; administrators' changes to other accounts within the last hour\.$/,
    );
    expect(line2({ recentSignInSeconds: 90, privilegedRecentSignInSeconds: 7_200 })).toContain(
      "within the last 90 seconds; administrators' changes to other accounts within the last 2 hours.",
    );
    expect(line2({ recentSignInSeconds: 60, privilegedRecentSignInSeconds: 5_400 })).toContain(
      "within the last minute; administrators' changes to other accounts within the last 90 minutes.",
    );
    // The schema's bounds: still a pass at the widest window it allows.
    expect(line2({ recentSignInSeconds: 86_400, privilegedRecentSignInSeconds: 86_400 })).toContain(
      "within the last 24 hours; administrators' changes to other accounts within the last 24 hours.",
    );
    expect(() => createConfig({ ...PROD, access: { recentSignInSeconds: 86_401 } })).toThrow(
      ConfigError,
    );
    expect(() => createConfig({ ...PROD, access: { privilegedRecentSignInSeconds: 59 } })).toThrow(
      ConfigError,
    );
  });

  it('checks OIDC providers: plain http and insecure cookies fail in production, email linking warns', () => {
    const provider = {
      issuer: 'http://idp.example.test',
      clientId: 'bulwark',
      clientSecret: 's'.repeat(32),
      redirectUri: 'http://api.example.test/api/v1/auth/oidc/corp/callback',
      appUrls: ['https://app.example.test/signed-in'],
      allowLinkingVerifiedEmail: true,
    };
    const dev = of(
      findings({ oidc: { providers: { corp: provider }, cookieSecure: false } }),
      'oidc.providers',
    );
    expect(dev.map((f) => f.status)).toEqual(['warn', 'warn', 'warn']);
    expect(dev[0]!.reason).toContain('provider "corp" uses plain http for issuer, redirectUri');
    expect(dev[1]!.reason).toContain('links sign-ins to existing accounts by verified email');
    expect(dev[2]!.reason).toContain('oidc.cookieSecure is false');

    // In production the same config does not even load (rules.ts); doctor on its https twin passes.
    const secure = {
      ...provider,
      issuer: 'https://idp.example.test',
      redirectUri: 'https://api.example.test/api/v1/auth/oidc/corp/callback',
      allowLinkingVerifiedEmail: false,
    };
    const prod = of(findings({ ...PROD, oidc: { providers: { corp: secure } } }), 'oidc.providers');
    expect(prod).toHaveLength(1);
    expect(prod[0]!.status).toBe('pass');
    expect(prod[0]!.reason).toContain('1 provider(s) (corp)');
    expect(of(findings(PROD), 'oidc.providers')[0]!.reason).toContain('password login only');
  });

  it('describe account recovery: off, sound, or with long links, a loose limit and an outbox', () => {
    expect(of(findings(PROD), 'auth.account-recovery')[0]).toMatchObject({
      status: 'pass',
      reason: expect.stringContaining('bulwark user set-password'),
    });
    const smtpEmail = {
      smtpUrl: 'smtps://u:p@smtp.example.com:465',
      from: 'Example <no-reply@example.com>',
      passwordResetUrl: 'https://app.example.com/reset',
      verifyEmailUrl: 'https://app.example.com/verify',
    };
    const smtp = of(
      findings({
        ...PROD,
        email: smtpEmail,
      }),
      'auth.account-recovery',
    );
    expect(smtp).toHaveLength(1);
    expect(smtp[0]).toMatchObject({ status: 'pass' });
    expect(smtp[0]!.reason).toContain('password reset and address verification by e-mail over TLS');
    expect(smtp[0]!.reason).not.toContain('u:p');
    const withChange = of(
      findings({
        ...PROD,
        email: { ...smtpEmail, changeEmailUrl: 'https://app.example.com/change-email' },
      }),
      'auth.account-recovery',
    );
    expect(withChange[0]!.reason).toContain(
      'password reset, address verification and address change by e-mail over TLS',
    );

    const loose = of(
      findings({
        email: {
          outboxDir: '/tmp/outbox',
          passwordResetUrl: 'https://app.example.com/reset',
          passwordResetTtlSeconds: 86_400,
          perAccountPerHour: 100,
        },
      }),
      'auth.account-recovery',
    );
    expect(loose.map((f) => f.status)).toEqual(['warn', 'warn', 'warn']);
    expect(loose[0]!.reason).toContain('work for 86400 s');
    expect(loose[1]!.reason).toContain('100 e-mails an hour');
    expect(loose[2]!.reason).toContain('never sent');
  });
});
