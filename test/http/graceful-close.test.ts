import { Agent, request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { buildTestApp } from '../helpers/app.js';

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
});
