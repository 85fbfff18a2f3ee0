import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { registerAndLogin } from '../helpers/identity.js';
import { runCli } from '../helpers/cli.js';
import { BIN, runNode } from '../helpers/process.js';

// The CLI's main in this process (runCli); the first test runs the built CLI (npm test builds
// first) as a process, as an operator would.
const jwt = (args: string[], input?: string) =>
  runCli(['jwt', ...args], input === undefined ? {} : { input });
const jwtProcess = (args: string[], input?: string) =>
  runNode([BIN, 'jwt', ...args], { timeoutMs: 30_000, ...(input === undefined ? {} : { input }) });

describe('bulwark jwt verify', () => {
  let t: TestApp;
  let url: string;
  let token: string;
  let dir: string;
  let tokenFile: string;
  let jwksFile: string;

  beforeAll(async () => {
    t = await buildTestApp();
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    url = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
    token = (await registerAndLogin(t.app)).accessToken;
    dir = await mkdtemp(join(tmpdir(), 'bulwark-jwt-cli-'));
    tokenFile = join(dir, 'token');
    await writeFile(tokenFile, `${token}\n`);
    jwksFile = join(dir, 'jwks.json');
    await writeFile(jwksFile, (await t.app.inject({ url: '/.well-known/jwks.json' })).body);
  });
  afterAll(async () => {
    await t.app.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('exits 0 for a valid token, with the checks, and never prints the token', async () => {
    const run = await jwtProcess([
      'verify',
      '--token-file',
      tokenFile,
      '--jwks-file',
      jwksFile,
      '--issuer',
      'bulwark',
      '--audience',
      'bulwark-api',
    ]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^VALID: the signature verifies and every check passes\.\n/);
    expect(run.stdout).toMatch(/pass {2}signature +The signature verifies with the key given\./);
    expect(run.stdout).toMatch(/pass {2}aud +aud includes "bulwark-api"\./);
    expect(run.stdout).not.toContain(token.split('.')[2]);
  });

  it('reads the token from standard input and fetches the JWKS from a URL; --json', async () => {
    const run = await jwt(
      ['verify', '--token-stdin', '--jwks-url', `${url}/.well-known/jwks.json`, '--json'],
      token,
    );
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({
      verdict: 'valid',
      signatureValid: true,
      header: { alg: 'EdDSA' },
    });
  });

  it('exits 1 for a changed token or the wrong audience, 3 when no key was given', async () => {
    const [h, , s] = token.split('.');
    const changed = `${h}.${Buffer.from('{"sub":"admin","exp":4102444800}').toString('base64url')}.${s}`;
    const tampered = await jwt(['verify', '--token-stdin', '--jwks-file', jwksFile], changed);
    expect(tampered.code).toBe(1);
    expect(tampered.stdout).toMatch(/FAIL {2}signature +The signature does not match/);
    const audience = await jwt([
      'verify',
      '--token-file',
      tokenFile,
      '--jwks-file',
      jwksFile,
      '--audience',
      'other-api',
    ]);
    expect(audience.code).toBe(1);
    const unverified = await jwt(['verify', '--token-file', tokenFile]);
    expect(unverified.code).toBe(3);
    expect(unverified.stdout).toMatch(/^NOT VERIFIED/);
  });

  it('exits 1 with one line for what is not a JWT, or a key file that is not a key', async () => {
    const run = await jwt(['verify', '--token-stdin'], 'not-a-token');
    expect(run.code).toBe(1);
    expect(run.stderr).toBe('bulwark jwt: A JWT has three parts separated by dots; this has 1.\n');
    const pem = join(dir, 'bad.pem');
    await writeFile(pem, 'nope');
    const bad = await jwt(['verify', '--token-file', tokenFile, '--pem-file', pem]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('The PEM is not a public key or certificate.');
  });

  it('reads at most 256 KiB of a file, even one that never ends, and says when there is no token', async () => {
    const big = join(dir, 'big');
    await writeFile(big, 'a'.repeat(300 * 1024));
    for (const file of [big, ...(existsSync('/dev/zero') ? ['/dev/zero'] : [])]) {
      const run = await jwt(['verify', '--token-file', file]);
      expect(run.code, file).toBe(1);
      expect(run.stderr).toBe(`bulwark jwt: the token file ${file} is larger than 256 KiB\n`);
    }
    const folder = await jwt(['verify', '--token-file', dir]);
    expect(folder.code).toBe(1);
    expect(folder.stderr).toBe(`bulwark jwt: cannot read the token file ${dir}: EISDIR\n`);
    const empty = await jwt(['verify', '--token-stdin'], ' \r\n');
    expect(empty.code).toBe(1);
    expect(empty.stderr).toBe('bulwark jwt: standard input is empty: no token to verify\n');
  });

  it('fetches a JWKS URL bounded: no redirects, no bodies over 256 KiB', async () => {
    const server = createServer((req, res) => {
      if (req.url === '/moved')
        res.writeHead(302, { location: `${url}/.well-known/jwks.json` }).end();
      else
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(`{"keys":[],"pad":"${'x'.repeat(300 * 1024)}"}`);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const moved = await jwt(['verify', '--token-file', tokenFile, '--jwks-url', `${base}/moved`]);
      expect(moved.code).toBe(69);
      expect(moved.stderr).toBe(
        `bulwark jwt: cannot fetch the JWKS at ${base}/moved: answered 302, a redirect, which is not followed\n`,
      );
      const huge = await jwt(['verify', '--token-file', tokenFile, '--jwks-url', `${base}/huge`]);
      expect(huge.code).toBe(69);
      expect(huge.stderr).toContain('answered with more than 256 KiB');
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  // 69 is EX_UNAVAILABLE (sysexits.h), as `bulwark audit` exits when its target does not answer:
  // a script can tell "the issuer is down" (retry, alert) from "the token is bad" (1).
  it('exits 69 with one line when the JWKS at --jwks-url cannot be obtained', async () => {
    const server = createServer((req, res) => {
      if (req.url === '/error') res.writeHead(500).end('{"keys":[]}');
      else if (req.url === '/html') res.writeHead(200, { 'content-type': 'text/html' }).end('<h1>');
      else if (req.url === '/empty') res.writeHead(200).end();
      else if (req.url === '/config')
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"issuer":"x"}');
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    // A port that was just listened on and closed: nothing answers there, the connection is refused.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const refusedAt = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/jwks?key=pa55-w0rd`;
    await new Promise((resolve) => closed.close(resolve));
    const verify = (jwksUrl: string, input = token) =>
      jwt(['verify', '--token-stdin', '--jwks-url', jwksUrl], input);
    try {
      const refused = await verify(refusedAt);
      expect(refused.stderr).toBe(
        `bulwark jwt: cannot fetch the JWKS at ${refusedAt.replace('pa55-w0rd', '***')}: the connection was refused\n`,
      );
      const error = await verify(`${base}/error`);
      expect(error.stderr).toBe(`bulwark jwt: the JWKS URL ${base}/error answered 500\n`);
      const html = await verify(`${base}/html`);
      expect(html.stderr).toBe(
        `bulwark jwt: the JWKS URL ${base}/html did not answer a usable JWKS: The JWKS is not JSON.\n`,
      );
      const config = await verify(`${base}/config`);
      expect(config.stderr).toBe(
        `bulwark jwt: the JWKS URL ${base}/config did not answer a usable JWKS: The JWKS is neither {"keys": [...]} nor one JWK.\n`,
      );
      // An empty key set is no key at all: never "not verified" (3) as if none had been asked for.
      const empty200 = await verify(`${base}/empty`);
      expect(empty200.stderr).toBe(
        `bulwark jwt: the JWKS URL ${base}/empty did not answer a usable JWKS: the answer is empty.\n`,
      );
      for (const run of [refused, error, html, config, empty200]) {
        expect(run.code).toBe(69);
        expect(run.stdout).toBe('');
      }
      const json = await jwt(
        ['verify', '--token-stdin', '--jwks-url', `${base}/error`, '--json'],
        token,
      );
      expect(json.code).toBe(69);
      expect(json.stdout).toBe('');
      expect(refused.stderr).not.toContain('pa55-w0rd');
      // What is not a JWT is invalid whatever the key set: 1, without asking the URL at all.
      const notJwt = await verify(refusedAt, 'not-a-token');
      expect(notJwt.code).toBe(1);
      expect(notJwt.stderr).toBe(
        'bulwark jwt: A JWT has three parts separated by dots; this has 1.\n',
      );
      const empty = await verify(`${base}/error`, '\n');
      expect(empty.code).toBe(1);
      expect(empty.stderr).toBe('bulwark jwt: standard input is empty: no token to verify\n');
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('never prints the user name or password of a JWKS URL', async () => {
    const port = Number(new URL(url).port);
    const withCredentials = await jwt([
      'verify',
      '--token-file',
      tokenFile,
      '--jwks-url',
      `http://user:pa55-w0rd@127.0.0.1:${port}/.well-known/jwks.json`,
    ]);
    expect(withCredentials.code).toBe(2);
    expect(withCredentials.stderr).toContain(
      '--jwks-url must not contain a user name or password (http://***@127.0.0.1:',
    );
    const notUrl = await jwt([
      'verify',
      '--token-file',
      tokenFile,
      '--jwks-url',
      'https://user:pa55-w0rd@bad host/jwks',
    ]);
    expect(notUrl.code).toBe(2);
    expect(notUrl.stderr).toContain('--jwks-url "https://***@bad host/jwks" is not a URL');
    for (const run of [withCredentials, notUrl]) expect(run.stderr).not.toContain('pa55-w0rd');
  });

  it('never prints the query values of a JWKS URL (signed URLs, API keys)', async () => {
    const answered = await jwt([
      'verify',
      '--token-file',
      tokenFile,
      '--jwks-url',
      `${url}/keys.json?sv=2022-11-02&sig=pa55-w0rd#pa55-w0rd`,
    ]);
    expect(answered.code).toBe(69);
    expect(answered.stderr).toBe(
      `bulwark jwt: the JWKS URL ${url}/keys.json?sv=***&sig=***#*** answered 404\n`,
    );
    const notUrl = await jwt([
      'verify',
      '--token-file',
      tokenFile,
      '--jwks-url',
      'https://bad host/jwks?key=pa55-w0rd',
    ]);
    expect(notUrl.code).toBe(2);
    expect(notUrl.stderr).toContain('--jwks-url "https://bad host/jwks?key=***" is not a URL');
    for (const run of [answered, notUrl]) expect(run.stderr).not.toContain('pa55-w0rd');
  });

  it.each([
    [[], 'say what to do: bulwark jwt verify'],
    [['decode'], 'unknown jwt command "decode"'],
    [['verify'], 'give the token with --token-file FILE or --token-stdin'],
    [
      ['verify', '--token-stdin', '--token-file', 'x'],
      'give the token with --token-file FILE or --token-stdin',
    ],
    [
      ['verify', '--token-stdin', '--jwks-file', 'a', '--pem-file', 'b'],
      'give one key, not --jwks-file and --pem-file',
    ],
    [
      ['verify', '--token-stdin', '--clock-tolerance', 'soon'],
      '--clock-tolerance must be a whole number',
    ],
    [
      ['verify', '--token-stdin', '--jwks-url', 'file:///etc/passwd'],
      '--jwks-url must be http or https',
    ],
  ])('refuses %j with exit 2', async (args, message) => {
    const run = await jwt(args, '');
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
  });
});
