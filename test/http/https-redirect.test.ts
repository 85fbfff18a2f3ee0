import type { Server } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createRedirectServer,
  MAX_REDIRECT_TARGET_LENGTH,
  redirectLocation,
} from '../../src/http/https-redirect.js';

const ORIGIN = 'https://api.example.test:8443';

let server: Server;
let port: number;

beforeAll(async () => {
  server = createRedirectServer({ publicOrigin: ORIGIN, requestTimeoutMs: 5_000 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as { port: number }).port;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

interface Raw {
  statusLine: string;
  headers: Record<string, string>;
  raw: string;
}

/** Sends bytes exactly as given (no client library normalising the request line) and reads the answer. */
function send(bytes: string): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let raw = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (raw += d));
    socket.on('error', reject);
    socket.on('close', () => {
      const [head = ''] = raw.split('\r\n\r\n');
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      resolve({ statusLine, headers, raw });
    });
    socket.write(bytes, 'latin1');
  });
}

const request = (target: string, host = 'evil.example', method = 'GET'): Promise<Raw> =>
  send(`${method} ${target} HTTP/1.1\r\nHost: ${host}\r\n\r\n`);

describe('HTTP -> HTTPS redirect listener', () => {
  it('answers 308 to the configured origin with the same path and query', async () => {
    const res = await request('/api/v1/users?limit=5&cursor=a%2Fb', 'api.example.test');
    expect(res.statusLine).toBe('HTTP/1.1 308 Permanent Redirect');
    expect(res.headers.location).toBe(`${ORIGIN}/api/v1/users?limit=5&cursor=a%2Fb`);
    expect(res.headers['content-length']).toBe('0');
    expect(res.headers.connection).toBe('close');
    // RFC 6797 §7.2: never HSTS over plain HTTP.
    expect(res.headers['strict-transport-security']).toBeUndefined();
  });

  it('keeps the method: a POST is redirected with 308, not turned into a GET', async () => {
    const res = await send(
      `POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`,
    );
    expect(res.statusLine).toContain('308');
    expect(res.headers.location).toBe(`${ORIGIN}/api/v1/auth/login`);
  });

  it.each([
    ['a hostile Host header', '/x', 'evil.example', `${ORIGIN}/x`],
    ['no useful Host at all', '/x', '', `${ORIGIN}/x`],
    [
      'a protocol-relative path',
      '//evil.example/x?y=1',
      'evil.example',
      `${ORIGIN}/evil.example/x?y=1`,
    ],
    ['a backslash path', '/\\evil.example/x', 'evil.example', `${ORIGIN}/evil.example/x`],
    ['many slashes', '////evil.example', 'evil.example', `${ORIGIN}/evil.example`],
    [
      'an absolute-form target',
      'http://evil.example/steal?x=1',
      'evil.example',
      `${ORIGIN}/steal?x=1`,
    ],
    ['an absolute-form https target', 'https://evil.example:444/', 'evil.example', `${ORIGIN}/`],
    [
      'userinfo tricks',
      'http://api.example.test:8443@evil.example/p',
      'evil.example',
      `${ORIGIN}/p`,
    ],
    ['an asterisk-form target', '*', 'evil.example', `${ORIGIN}/`],
  ])('never leaves the configured origin: %s', async (_label, target, host, expected) => {
    const res = await request(target, host, target === '*' ? 'OPTIONS' : 'GET');
    expect(res.statusLine).toContain('308');
    expect(res.headers.location).toBe(expected);
    expect(new URL(res.headers.location!).origin).toBe(ORIGIN);
  });

  it('opens no tunnel for CONNECT (authority-form): the connection is closed, nothing relayed', async () => {
    const res = await send('CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n');
    // Node's HTTP server hands CONNECT to a 'connect' listener; there is none, so it hangs up.
    expect(res.raw).toBe('');
  });

  it('percent-encodes characters that could end the header or change the target', async () => {
    const res = await request('/a%0d%0aSet-Cookie:%20x=1/"<script>', 'x');
    // Already-encoded CR LF stay encoded; quotes and angle brackets get encoded.
    expect(res.headers.location).toBe(`${ORIGIN}/a%0d%0aSet-Cookie:%20x=1/%22%3Cscript%3E`);
    expect(res.headers['set-cookie']).toBeUndefined();
  });

  it('refuses raw CR/LF in the request line (the parser rejects the request)', async () => {
    const res = await send('GET /a\rSet-Cookie: x=1 HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(res.statusLine).toBe('HTTP/1.1 400 Bad Request');
    expect(res.raw).not.toMatch(/set-cookie/i);
  });

  it('sends an overlong target to the root instead of echoing it', async () => {
    const long = `/${'a'.repeat(MAX_REDIRECT_TARGET_LENGTH + 10)}`;
    const res = await request(long, 'x');
    expect(res.headers.location).toBe(`${ORIGIN}/`);
    const fits = `/${'b'.repeat(MAX_REDIRECT_TARGET_LENGTH - 1)}`;
    expect((await request(fits, 'x')).headers.location).toBe(`${ORIGIN}${fits}`);
  });

  it('redirectLocation encodes non-ASCII and keeps the origin for any input', () => {
    expect(redirectLocation(ORIGIN, '/caf\u00e9?q=\u00fc')).toBe(`${ORIGIN}/caf%E9?q=%FC`);
    expect(redirectLocation(ORIGIN, '/\u2603')).toBe(`${ORIGIN}/%E2%98%83`);
    for (const hostile of [
      '@evil.example',
      'evil.example',
      '\\\\evil.example',
      ':80@evil.example',
    ]) {
      expect(new URL(redirectLocation(ORIGIN, hostile)).origin).toBe(ORIGIN);
    }
  });
});
