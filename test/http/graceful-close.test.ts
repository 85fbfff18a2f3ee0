import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
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

      const slow = get(`${base}/api/v1/examples/slow`, agent); // 300 ms handler
      await new Promise((resolve) => setTimeout(resolve, 100));
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
    const inFlight = connect(port, '127.0.0.1');
    const late = connect(port, '127.0.0.1');
    try {
      // An in-flight request keeps close() waiting; the late one has sent half its headers.
      inFlight.write('GET /api/v1/examples/slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      let raw = '';
      late.setEncoding('latin1');
      late.on('data', (d: string) => (raw += d));
      const ended = new Promise((resolve) => late.on('close', resolve));
      late.write('GET /health/live HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example\r\n');
      await new Promise((resolve) => setTimeout(resolve, 100));
      const closed = t.app.close();
      await new Promise((resolve) => setTimeout(resolve, 20));
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
