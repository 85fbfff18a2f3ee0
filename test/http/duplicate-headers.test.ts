import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ambiguousHeaders } from '../../src/http/duplicate-headers.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { expectProtocolProblem, listenOnLoopback, sendRaw } from '../helpers/raw-http.js';

// Node folds duplicated headers before Fastify sees them (the first Host or Authorization
// wins), so only real sockets show what a client sent.

let t: TestApp;
let port: number;
beforeAll(async () => {
  t = await buildTestApp();
  port = await listenOnLoopback(t.app);
});
afterAll(async () => {
  await t.app.close();
});

const get = (headerLines: string, version = '1.1') =>
  sendRaw(port, `GET /health/live HTTP/${version}\r\n${headerLines}Connection: close\r\n\r\n`);

describe('ambiguous Host and Authorization headers', () => {
  it.each([
    ['two Host headers', 'Host: a\r\nHost: b\r\n'],
    ['two Host headers in other cases', 'host: a\r\nHOST: a\r\n'],
    [
      'two Authorization headers',
      'Host: a\r\nAuthorization: Bearer x\r\nAuthorization: Bearer y\r\n',
    ],
    [
      'two Authorization headers in other cases',
      'Host: a\r\nauthorization: Bearer x\r\nAUTHORIZATION: Bearer x\r\n',
    ],
    ['an HTTP/1.1 request without Host', 'Accept: */*\r\n'],
  ])('refuses %s with 400 bad_request', async (_label, lines) => {
    const res = await get(lines);
    expectProtocolProblem(res, 400, 'bad_request');
  });

  it('refuses a duplicated Authorization before authenticating with either', async () => {
    const res = await sendRaw(
      port,
      'GET /api/v1/users/me HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer x\r\nAuthorization: Bearer y\r\nConnection: close\r\n\r\n',
    );
    expectProtocolProblem(res, 400, 'bad_request');
    expect(JSON.parse(res.body).detail).toBe('The request has more than one Authorization header.');
  });

  // Node stops collecting header lines after its maxHeadersCount (1000 by default) and drops the
  // rest without a word: a second Host or Authorization behind 1000 filler lines went unseen.
  it.each([
    ['Authorization', 'Host: a\r\nAuthorization: Bearer x\r\n', 'Authorization: Bearer y\r\n'],
    ['Host', 'Host: a\r\n', 'Host: b\r\n'],
  ])('refuses a second %s hidden behind a thousand other headers', async (name, first, second) => {
    const filler = Array.from({ length: 1100 }, (_, i) => `x${i}:\r\n`).join('');
    const res = await get(`${first}${filler}${second}`);
    expectProtocolProblem(res, 400, 'bad_request');
    expect(JSON.parse(res.body).detail).toBe(`The request has more than one ${name} header.`);
  });

  it.each([
    ['one Host and one Authorization', 'Host: a\r\nAuthorization: Bearer x\r\n', '1.1'],
    ['an HTTP/1.0 request without Host', '', '1.0'],
    [
      'headers that only look alike',
      'Host: a\r\nHosts: b\r\nX-Host: c\r\nAuthorisation: d\r\n',
      '1.1',
    ],
  ])('accepts %s', async (_label, lines, version) => {
    const res = await get(lines, version);
    expect(res.status).toBe(200);
  });
});

describe('ambiguousHeaders', () => {
  it('looks at names only, in any case', () => {
    expect(ambiguousHeaders(['Host', 'a', 'X', 'host'], true)).toBeUndefined();
    expect(ambiguousHeaders(['hOsT', 'a', 'HoSt', 'a'], true)).toMatch(/Host/);
    // Same length as "host" / "authorization", one bit away from a letter in each position.
    expect(ambiguousHeaders(['host', 'a', 'hosT', 'a'], false)).toMatch(/Host/);
    expect(ambiguousHeaders(['host', 'a', 'hos\u0014', 'a'], false)).toBeUndefined();
    expect(
      ambiguousHeaders(['host', 'a', 'authorizatioN', 'x', 'authorizatiom', 'y'], true),
    ).toBeUndefined();
    expect(ambiguousHeaders([], false)).toBeUndefined();
    expect(ambiguousHeaders([], true)).toMatch(/needs a Host/);
  });
});
