import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { registerAndLogin } from '../helpers/identity.js';
import { runCli, type CliRun } from '../helpers/cli.js';
import { BIN, runNode } from '../helpers/process.js';
import { startInsecureApi, type InsecureApi } from './insecure-api.js';

// The CLI's main in this process (runCli), as a CI job runs the command; the help listing runs
// the built CLI (npm test builds first) as a process.
const NO_STACK = /\n\s+at /;

function audit(args: string[], input?: string): Promise<CliRun> {
  return runCli(['audit', ...args], input === undefined ? {} : { input });
}

describe('bulwark audit (CLI)', () => {
  let api: InsecureApi;
  let bulwark: TestApp;
  let bulwarkUrl: string;
  let token: string;
  let dir: string;

  beforeAll(async () => {
    api = await startInsecureApi();
    bulwark = await buildTestApp({ rateLimit: { auth: { points: 20 } } });
    await bulwark.app.listen({ port: 0, host: '127.0.0.1' });
    bulwarkUrl = `http://127.0.0.1:${(bulwark.app.server.address() as AddressInfo).port}`;
    token = (await registerAndLogin(bulwark.app)).accessToken;
    dir = await mkdtemp(join(tmpdir(), 'bulwark-audit-cli-'));
  });
  afterAll(async () => {
    await api.close();
    await bulwark.app.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('exits 0 on Bulwark with a token from a file, and prints the checklist table', async () => {
    const file = join(dir, 'token');
    await writeFile(file, `${token}\n`, { mode: 0o600 });
    const run = await audit([bulwarkUrl, '--token-file', file]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(
      /^bulwark audit of http:\/\/127\.0\.0\.1:\d+\/: \d+ requests in [\d.]+ s\n/,
    );
    expect(run.stdout).toContain(' 1  strong authentication   pass');
    expect(run.stdout).toMatch(/pass {2}jwt\.forgery +9 forged tokens were all refused/);
    expect(run.stdout).toMatch(/\n\d+ pass, 1 warn, 0 fail, 0 skipped\.\n/);
    expect(run.stdout).not.toContain(token.split('.')[2]);
  });

  it('--strict exits 1 on the warning', async () => {
    const run = await audit([bulwarkUrl, '--strict', '--rate-limit-requests', '0']);
    expect(run.code).toBe(1);
  });

  it('exits 1 on a broken API, with a JSON report and the token read from standard input', async () => {
    const run = await audit(
      [api.url, '--json', '--token-stdin', '--rate-limit-requests', '5'],
      `${api.token}\n`,
    );
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout) as {
      summary: Record<string, number>;
      findings: { check: string; status: string }[];
      lines: { line: number; status: string }[];
      tokenGiven: boolean;
    };
    expect(report.tokenGiven).toBe(true);
    expect(report.summary.fail).toBeGreaterThan(10);
    expect(report.findings).toContainEqual(
      expect.objectContaining({ check: 'jwt.forgery', status: 'fail' }),
    );
    expect(report.lines.find((l) => l.line === 14)?.status).toBe('fail');
    expect(report.lines.find((l) => l.line === 6)?.status).toBe('untested');
  });

  it('exits 69 with one line when the target does not answer', async () => {
    const closed = await startInsecureApi();
    await closed.close();
    const run = await audit([closed.url]);
    expect(run.code).toBe(69);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(
      /^bulwark audit: could not reach http:\/\/127\.0\.0\.1:\d+\/: .*ECONNREFUSED[^\n]*\n$/,
    );
  });

  it('exits 69 with one line, and no token, when the target stops answering mid-scan', async () => {
    // Answers the first request, then drops every connection (a crash, a proxy giving up).
    let answered = 0;
    const dropping = createServer((req, res) => {
      if (answered++ === 0) {
        res.writeHead(404);
        res.end();
      } else req.socket.destroy();
    });
    await new Promise<void>((resolve) => dropping.listen(0, '127.0.0.1', resolve));
    try {
      const file = join(dir, 'token-dropping');
      await writeFile(file, `${token}\n`, { mode: 0o600 });
      const run = await audit([
        `http://127.0.0.1:${(dropping.address() as AddressInfo).port}`,
        '--token-file',
        file,
        '--protected-path',
        '/me',
      ]);
      expect(run.code).toBe(69);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(/^bulwark audit: the target stopped answering: GET [^\n]+\n$/);
      expect(run.stderr).not.toContain(token.split('.')[2]);
    } finally {
      dropping.closeAllConnections();
      await new Promise((resolve) => dropping.close(resolve));
    }
  });

  it.each([
    [[], 'give the URL of the API to scan'],
    [['ftp://example.com'], 'the URL must be http or https, not ftp'],
    [['not a url'], '"not a url" is not a URL'],
    [['http://user:secret@127.0.0.1:1'], 'must not contain a user name or password'],
    [['http://127.0.0.1:1/?api_key=secret'], 'the URL must not have a query or fragment'],
    [['http://127.0.0.1:1/#frag'], 'the URL must not have a query or fragment'],
    [['http://user:secret@bad host/'], '"http://***@bad host/" is not a URL'],
    [['http://bad host/?key=secret#secret'], '"http://bad host/?key=***#***" is not a URL'],
    [
      ['http://127.0.0.1:1', '--origin', 'https://bad host/?sig=secret'],
      'not "https://bad host/?sig=***"',
    ],
    [
      ['http://127.0.0.1:1', '--origin', 'https://user:secret@bad host'],
      '--origin must be an origin such as https://evil.example, not "https://***@bad host"',
    ],
    [
      ['http://127.0.0.1:1', '--max-requests', 'lots'],
      '--max-requests must be a whole number from 10 to 10000',
    ],
    [
      ['http://127.0.0.1:1', '--login-path', 'login'],
      '--login-path must be a path on the target starting with "/"',
    ],
    [['http://127.0.0.1:1', '--origin', 'nope'], '--origin must be an origin'],
    [
      ['http://127.0.0.1:1', '--max-duration', '0'],
      '--max-duration must be a whole number from 1 to 86400',
    ],
    [['http://127.0.0.1:1', '--token-stdin', '--token-file', 'x'], 'not both'],
    [['http://127.0.0.1:1', '--auth-header', 'X API Key'], '--auth-header must be a header name'],
    [['http://127.0.0.1:1', '--auth-header', 'X-Key:'], '--auth-header must be a header name'],
    [['http://127.0.0.1:1', '--auth-header', 'authorization'], 'is the default'],
    [['http://127.0.0.1:1', '--auth-header', 'Origin'], 'the scan sets that header itself'],
    [['http://127.0.0.1:1', '--jwks-url', 'keys.json'], '--jwks-url must be an http or https URL'],
    [['http://127.0.0.1:1', '--jwks-url', 'file:///etc/keys'], '--jwks-url must be http or https'],
    [
      ['http://127.0.0.1:1', '--jwks-url', 'https://user:secret@idp.example/keys'],
      '--jwks-url must not contain a user name or password',
    ],
    [
      ['http://127.0.0.1:1', '--login-body', '{username: "{user}"}'],
      '--login-body is not valid JSON',
    ],
    [
      ['http://127.0.0.1:1', '--login-body', '["{user}", "{password}"]'],
      '--login-body must be a JSON object',
    ],
    [
      ['http://127.0.0.1:1', '--login-body', '{"username":"{user}","password":"secret"}'],
      '--login-body has no "{password}" value',
    ],
    [
      ['http://127.0.0.1:1', '--login-body', '{"login":"secret","password":"{password}"}'],
      '--login-body has no "{user}" value',
    ],
    [
      ['http://127.0.0.1:1', '--login-body', '{"user":"{username}","password":"{password}"}'],
      'has the placeholder {username}, which is not one',
    ],
  ])('refuses bad arguments with exit 2: %j', async (args, message) => {
    const run = await audit(args);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
    expect(run.stderr).not.toContain('secret');
    expect(run.stderr).not.toMatch(NO_STACK);
  });

  it('sends an API key in the header named with --auth-header, and never prints it', async () => {
    const key = 'ak_test_51H:x$Qe9Zr2Lw7Vb';
    const seen: (string | undefined)[] = [];
    const keyed = createServer((req, res) => {
      if (req.url === '/me') {
        seen.push(req.headers['x-api-key'] as string | undefined);
        const ok = req.headers['x-api-key'] === key;
        res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' });
        res.end(ok ? '{"id":"u1"}' : '{"error":"no key"}');
      } else {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end('{}');
      }
    });
    await new Promise<void>((resolve) => keyed.listen(0, '127.0.0.1', resolve));
    try {
      const file = join(dir, 'api-key');
      await writeFile(file, `${key}\n`, { mode: 0o600 });
      const url = `http://127.0.0.1:${(keyed.address() as AddressInfo).port}`;
      const args = [url, '--auth-header', 'X-API-Key', '--protected-path', '/me'];
      // A bearer token cannot hold ":" or "$": without --auth-header the file is refused.
      const refused = await audit([...args.slice(0, 1), '--token-file', file]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('characters a bearer token cannot have');
      for (const json of [[], ['--json']]) {
        const run = await audit([
          ...args,
          '--token-file',
          file,
          '--rate-limit-requests',
          '0',
          ...json,
        ]);
        expect(run.stdout).toMatch(/auth\.token-required|"auth\.token-required"/);
        expect(run.stdout + run.stderr).not.toContain(key);
        expect(run.stdout + run.stderr).not.toContain(encodeURIComponent(key));
      }
      expect(seen).toContain(key);
    } finally {
      keyed.closeAllConnections();
      await new Promise((resolve) => keyed.close(resolve));
    }
  });

  it('refuses a token file it cannot read, or that holds no token', async () => {
    const missing = await audit([api.url, '--token-file', join(dir, 'missing')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('cannot read the token file');
    const garbage = join(dir, 'garbage');
    await writeFile(garbage, 'this is not a token\n');
    const run = await audit([api.url, '--token-file', garbage]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('does not hold one token');
    expect(run.stderr).not.toContain('this is not');
  });

  it('refuses a token too short to keep out of the report, without printing it', async () => {
    const run = await audit([api.url, '--auth-header', 'X-API-Key', '--token-stdin'], 'k3y$\n');
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      'bulwark audit: standard input holds a token of fewer than 8 characters, which the report could not be kept clear of (no real access token or API key is that short)\n',
    );
  });

  it('reads a token file as a stream, refusing one that never ends', async () => {
    const run = await audit([api.url, '--token-file', '/dev/zero']);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe('bulwark audit: the token file /dev/zero is larger than 16 KiB\n');
    const huge = await audit([api.url, '--token-stdin'], 'x'.repeat(20_000));
    expect(huge.code).toBe(1);
    expect(huge.stderr).toBe('bulwark audit: standard input is larger than 16 KiB\n');
  });

  it('stops at its request budget with a clear error and exit 3 (incomplete), not 1', async () => {
    const run = await audit([api.url, '--max-requests', '10']);
    expect(run.code).toBe(3);
    expect(run.stderr).toBe(
      'bulwark audit: the scan needed more than 10 requests (--max-requests): raise it, or lower --rate-limit-requests\n',
    );
  });

  it('stops at --max-duration with exit 3 (incomplete), not 1', async () => {
    // Answers every request after 300 ms: the scan needs far more than one second.
    const slow = createServer((_req, res) => {
      setTimeout(() => {
        res.writeHead(404);
        res.end();
      }, 300);
    });
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(slow.address() as AddressInfo).port}`;
      const run = await audit([url, '--max-duration', '1', '--timeout-ms', '5000']);
      expect(run.code).toBe(3);
      expect(run.stdout).toBe('');
      expect(run.stderr).toBe(
        'bulwark audit: the scan took longer than 1 s (--max-duration): raise it, or lower --timeout-ms\n',
      );
    } finally {
      slow.closeAllConnections();
      await new Promise((resolve) => slow.close(resolve));
    }
  });

  it('exits 3, not 69, when --max-duration cuts short a request the scan needs', async () => {
    // Answers at once, but holds the unknown address open: the scan's deadline, not the
    // target's silence, is what ends that request (--timeout-ms is far longer).
    const holding = createServer((req, res) => {
      if (req.url?.startsWith('/bulwark-audit-')) return;
      res.writeHead(404);
      res.end();
    });
    await new Promise<void>((resolve) => holding.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(holding.address() as AddressInfo).port}`;
      const run = await audit([url, '--max-duration', '1', '--timeout-ms', '30000']);
      expect(run.stderr).toBe(
        'bulwark audit: the scan took longer than 1 s (--max-duration): raise it, or lower --timeout-ms\n',
      );
      expect(run.code).toBe(3);
    } finally {
      holding.closeAllConnections();
      await new Promise((resolve) => holding.close(resolve));
    }
  });

  it('documents exit 3 in its --help', async () => {
    const run = await audit(['--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(
      '3 the scan was stopped incomplete by --max-requests or --max-duration',
    );
  });

  it('is listed in bulwark --help', async () => {
    const run = await runNode([BIN, '--help']);
    expect(run.stdout).toMatch(/audit URL +scan a running API against the security checklist/);
  });
});
