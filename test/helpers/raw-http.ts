import type { AddressInfo } from 'node:net';
import { connect as netConnect, type Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { connect as tlsConnect } from 'node:tls';
import { expect } from 'vitest';
import { API_SECURITY_HEADERS } from '../../src/http/security-headers.js';

// Raw HTTP/1.1 over a socket: bytes go out exactly as given, so tests can send what no client
// library would (broken framing, duplicated headers, stalled requests).

export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
  raw: string;
}

/** Listens `app` on a loopback port (raw sockets need a real server); resolves with the port. */
export async function listenOnLoopback(app: FastifyInstance): Promise<number> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  return (app.server.address() as AddressInfo).port;
}

/** Parses what a server wrote before closing the connection (one response). */
export function parseAnswer(raw: string): RawAnswer {
  const split = raw.indexOf('\r\n\r\n');
  const head = split === -1 ? raw : raw.slice(0, split);
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return {
    status: Number(statusLine.split(' ')[1]),
    headers,
    body: split === -1 ? '' : raw.slice(split + 4),
    raw,
  };
}

/** Writes `bytes` on a fresh connection and resolves with everything read until the server closes. */
export function sendRaw(port: number, bytes: string, secure = false): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket: Socket = secure
      ? tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false })
      : netConnect(port, '127.0.0.1');
    let raw = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (raw += d));
    socket.on('error', reject);
    socket.on('close', () => resolve(parseAnswer(raw)));
    socket.write(bytes, 'latin1');
  });
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The problem shape every refused request gets, with the pipeline's headers. */
export function expectProtocolProblem(res: RawAnswer, status: number, code: string): void {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
  expect(res.headers.connection).toBe('close');
  expect(Number(res.headers['content-length'])).toBe(Buffer.byteLength(res.body, 'latin1'));
  for (const [name, value] of Object.entries(API_SECURITY_HEADERS)) {
    expect(res.headers[name], name).toBe(value);
  }
  const body = JSON.parse(res.body) as Record<string, unknown>;
  expect(body).toMatchObject({ status, code, type: `urn:bulwark:problem:${code}` });
  expect(Object.keys(body).sort()).toEqual(
    ['code', 'detail', 'requestId', 'status', 'title', 'type'].sort(),
  );
  expect(body.requestId).toMatch(UUID);
  expect(res.headers['x-request-id']).toBe(body.requestId);
}
