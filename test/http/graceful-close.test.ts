import { once } from 'node:events';
import { Agent, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import { API_SECURITY_HEADERS } from '../../src/http/security-headers.js';
import { buildTestApp } from '../helpers/app.js';
import { listenOnLoopback, parseAnswer } from '../helpers/raw-http.js';

interface Answer {
  status: number;
  connection: string | undefined;
  body: string;
  at: number;
}

function get(url: string, agent: Agent): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          connection: res.headers.connection,
          body,
          at: performance.now(),
        }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

describe('closing the app', () => {
  it('finishes an in-flight keep-alive request, then closes without waiting for keep-alive', async () => {
    // A keep-alive timeout far above the bound below: waiting for it would fail the test.
    const t = await buildTestApp({ server: { keepAliveTimeoutMs: 10_000 } });
    const base = await t.app.listen({ host: '127.0.0.1', port: 0 });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      // A first request leaves the pooled connection open and idle, as a real client would.
      const warm = await get(`${base}/health/live`, agent);
      expect(warm.connection).toBe('keep-alive');

      // In flight once the server has parsed it, not after a fixed delay that a loaded machine can
      // exceed (a request that arrives after close() starts meets a closed idle connection).
      const arrived = once(t.app.server, 'request');
      const slow = get(`${base}/api/v1/examples/slow`, agent); // 300 ms handler
      await arrived;
      const closed = t.app.close().then(() => performance.now());

      const answer = await slow;
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.body)).toEqual({ done: true });
      expect(answer.connection).toBe('close');
      expect((await closed) - answer.at).toBeLessThan(1_000);
    } finally {
      agent.destroy();
      await t.app.close();
    }
  });

  // A connection that is mid-request when close starts is not idle, so it stays open; its request
  // then met Fastify's own 503 (`{"error":"Service Unavailable",…}`, no security headers, no id).
  it('answers a request that completes while closing with the service_unavailable problem', async () => {
    const t = await buildTestApp({ cors: { origins: ['https://app.example'] } });
    const port = await listenOnLoopback(t.app);
    const accepted: Socket[] = [];
    t.app.server.on('connection', (socket: Socket) => accepted.push(socket));
    const inFlight = connect(port, '127.0.0.1');
    const late = connect(port, '127.0.0.1');
    try {
      // An in-flight request keeps close() waiting; the late one has sent half its headers.
      const arrived = once(t.app.server, 'request');
      inFlight.write('GET /api/v1/examples/slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      let raw = '';
      late.setEncoding('latin1');
      late.on('data', (d: string) => (raw += d));
      const ended = new Promise((resolve) => late.on('close', resolve));
      const half = 'GET /health/live HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example\r\n';
      late.write(half);
      // Both are with the server before close() starts, known rather than guessed with a delay
      // that a loaded machine can exceed: the slow request is being handled, and the late one's
      // first bytes have been read, so its connection is not idle.
      await arrived;
      await vi.waitFor(() => expect(accepted.map((s) => s.bytesRead)).toContain(half.length), {
        interval: 5,
        timeout: 5_000,
      });
      const closed = t.app.close();
      // Close has started (its preClose hooks ran) once the server has stopped listening.
      await vi.waitFor(() => expect(t.app.server.listening).toBe(false), {
        interval: 5,
        timeout: 5_000,
      });
      late.write('\r\n');
      await ended;
      await closed;
      const res = parseAnswer(raw);
      expect(res.status).toBe(503);
      expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
      expect(res.headers.connection).toBe('close');
      // A browser can read it: the CORS grant is there.
      expect(res.headers['access-control-allow-origin']).toBe('https://app.example');
      for (const [name, value] of Object.entries(API_SECURITY_HEADERS)) {
        expect(res.headers[name], name).toBe(value);
      }
      const body = JSON.parse(res.body) as Record<string, unknown>;
      expect(body).toMatchObject({ status: 503, code: 'service_unavailable' });
      expect(body.requestId).toBe(res.headers['x-request-id']);
    } finally {
      inFlight.destroy();
      late.destroy();
      await t.app.close();
    }
  });
});
