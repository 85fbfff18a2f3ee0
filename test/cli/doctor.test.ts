import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CHECKLIST } from '../../src/posture/index.js';
import { runCli } from '../helpers/cli.js';
import { BIN, runNode } from '../helpers/process.js';
import { caIssuedCertFiles, tempDir } from '../helpers/tls.js';

// Runs the CLI's main in this process (runCli) as a team's CI would run the command; the
// development config, whose files are relative to the working directory, runs the built CLI
// (npm test builds first) as a process started there.
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function workDir(): string {
  const dir = tempDir('bulwark-doctor-');
  dirs.push(dir);
  return dir;
}

function writeConfig(dir: string, config: object, mode = 0o600): string {
  const path = join(dir, 'bulwark.json');
  writeFileSync(path, JSON.stringify(config, null, 2), { mode });
  return path;
}

/** A production config that should pass: own CA-issued certificate, key file, metrics token. */
function goodConfig(dir: string): object {
  const cert = caIssuedCertFiles({ dir, hosts: ['api.example.test'] });
  const keyFile = join(dir, 'master-key.json');
  writeFileSync(
    keyFile,
    JSON.stringify({ current: 1, keys: { 1: randomBytes(32).toString('base64') } }),
    { mode: 0o600 },
  );
  return {
    env: 'production',
    server: { publicOrigin: 'https://api.example.test', httpRedirectPort: 8080 },
    tls: { certFile: cert.certFile, keyFile: cert.keyFile },
    keys: { masterKeyFile: keyFile, devKeyFile: join(dir, 'dev-key.json') },
    docs: { enabled: false },
    metrics: { token: randomBytes(24).toString('hex') },
  };
}

/** Rows of the printed table: checklist line number -> status word. */
function statuses(stdout: string): Map<number, string> {
  const rows = new Map<number, string>();
  for (const match of stdout.matchAll(/^\s?(\d{1,2})\s{2}.+?\s{2}(pass|WARN|FAIL)\s{2}/gm)) {
    rows.set(Number(match[1]), match[2]!);
  }
  return rows;
}

describe('bulwark doctor', () => {
  it('passes a good production config: every checklist line, exit 0', async () => {
    const dir = workDir();
    const file = writeConfig(dir, goodConfig(dir));
    const res = await runCli(['doctor', '--config', file], { cwd: dir });
    expect(res.code, res.stdout + res.stderr).toBe(0);
    const rows = statuses(res.stdout);
    expect([...rows.keys()]).toEqual(CHECKLIST.map((c) => c.line));
    for (const { line, practice } of CHECKLIST) {
      expect(res.stdout).toMatch(
        new RegExp(`^\\s?${line}\\s{2}${practice.replace(/[/&]/g, '.')}`, 'm'),
      );
    }
    expect([...rows.values()]).not.toContain('FAIL');
    expect(rows.get(8)).toBe('pass');
    expect(rows.get(9)).toBe('pass');
    expect(rows.get(17)).toBe('pass');
    expect(res.stdout).toMatch(
      /^ 2 {2}authorization \/ RBAC +pass {4}.*; account deletion needs a sign-in within the last 10 minutes; administrators' changes to other accounts within the last hour\.$/m,
    );
    expect(res.stdout).toMatch(
      /HTTPS on port 3000 \(TLS TLSv1\.2\+, ECDHE\+AEAD only\); certificate valid until/,
    );
    expect(res.stdout).toMatch(/^0 fail, \d+ warn, \d+ pass \(of 17 checklist lines\)$/m);
  });

  it('fails a bad production config with a reason and a fix per problem, exit 1', async () => {
    const dir = workDir();
    const file = writeConfig(
      dir,
      {
        env: 'production',
        cors: { origins: ['*'] },
        docs: { enabled: true },
        keys: { masterKey: Buffer.alloc(32, 0x41).toString('base64') },
        access: { defaultRole: 'admin' },
        rateLimit: { enabled: false },
      },
      0o644,
    );
    // Named relative to the run's directory: read, and its mode checked, there.
    expect(file).toBe(join(dir, 'bulwark.json'));
    const res = await runCli(['doctor', '--config', 'bulwark.json'], { cwd: dir });
    expect(res.code).toBe(1);
    const rows = statuses(res.stdout);
    expect(rows.size).toBe(17);
    expect(rows.get(2)).toBe('FAIL');
    expect(rows.get(7)).toBe('FAIL');
    expect(rows.get(8)).toBe('FAIL');
    expect(rows.get(9)).toBe('FAIL');
    expect(rows.get(14)).toBe('FAIL');
    expect(rows.get(17)).toBe('FAIL');
    expect(rows.get(4)).toBe('pass');
    expect(res.stdout).toContain('repeats a pattern of 1 byte');
    // The config file holds the master key and is world-readable.
    expect(res.stdout).toMatch(
      /--config .*bulwark\.json holds secrets and is readable by group or others \(mode 0644\)\. Fix: chmod 600/,
    );
    expect(res.stdout).toContain('docs.enabled is true in production');
    expect(res.stdout).toMatch(/^[1-9]\d* fail, /m);
    expect(res.stdout).not.toContain(Buffer.alloc(32, 0x41).toString('base64'));
  });

  it('prints the same verdict as JSON with --json', async () => {
    const dir = workDir();
    const file = writeConfig(dir, { env: 'production' });
    const res = await runCli(['doctor', '--config', file, '--json'], {
      cwd: dir,
      env: { BULWARK_SERVER_TRUST_PROXY: '10.0.0.5' },
    });
    expect(res.code).toBe(1);
    const report = JSON.parse(res.stdout) as {
      env: string;
      summary: { fail: number };
      lines: {
        line: number;
        status: string;
        findings: { check: string; status: string; fix?: string }[];
      }[];
    };
    expect(report.env).toBe('production');
    expect(report.lines.map((l) => l.line)).toEqual(CHECKLIST.map((c) => c.line));
    const line9 = report.lines.find((l) => l.line === 9)!;
    expect(line9.status).toBe('fail');
    expect(line9.findings[0]).toMatchObject({ check: 'keys.master', status: 'fail' });
    expect(line9.findings[0]!.fix).toContain('openssl rand -base64 32');
    // The environment variable counts, as it would for serve: the proxy satisfies line 8.
    expect(report.lines.find((l) => l.line === 8)!.status).toBe('pass');
    expect(report.summary.fail).toBe(report.lines.filter((l) => l.status === 'fail').length);
  });

  it('only warns for a development config, exit 0', async () => {
    const dir = workDir();
    const res = await runNode([BIN, 'doctor'], { cwd: dir });
    expect(res.code).toBe(0);
    const rows = statuses(res.stdout);
    expect(rows.get(8)).toBe('WARN');
    expect(rows.get(9)).toBe('WARN');
    expect(rows.get(17)).toBe('WARN');
    expect(res.stdout).toContain('env is development');
  });

  it('exits 78 for a config that does not load, and 2 for bad arguments', async () => {
    const dir = workDir();
    const file = writeConfig(dir, { server: { port: 'eighty' } });
    const invalid = await runCli(['doctor', '--config', file], { cwd: dir });
    expect(invalid.code).toBe(78);
    expect(invalid.stderr).toContain('server.port');
    const bad = await runCli(['doctor', 'extra'], { cwd: dir });
    expect(bad.code).toBe(2);
  });
});
