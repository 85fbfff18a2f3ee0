import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { RouteHistogram } from '../../src/metrics/route-histogram.js';

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

describe('RouteHistogram', () => {
  it("prints exactly what prom-client's Histogram prints for the same observations", async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const fast = new RouteHistogram('h_seconds', 'help "text"', BUCKETS, [ours]);
    const reference = new Histogram({
      name: 'h_seconds',
      help: 'help "text"',
      labelNames: ['method', 'route', 'status_class'] as const,
      buckets: BUCKETS,
      registers: [theirs],
    });
    const routes = ['/api/v1/users/:id', '/health/live', '(unmatched)', '/a"b\\c'];
    const statuses = [200, 201, 204, 301, 401, 404, 429, 500, 503];
    const values = [0, 0.001, 0.005, 0.0051, 0.3, 1, 9.99, 10, 10.5, 1_000];
    let i = 0;
    for (const route of routes) {
      for (const status of statuses) {
        for (const method of ['GET', 'POST']) {
          const seconds = values[i++ % values.length]!;
          fast.observe(method, route, status, seconds);
          reference.observe(
            { method, route, status_class: `${Math.floor(status / 100)}xx` },
            seconds,
          );
        }
      }
    }
    const sorted = (text: string) => text.split('\n').sort();
    expect(sorted(await ours.metrics())).toEqual(sorted(await theirs.metrics()));

    fast.reset();
    reference.reset();
    expect(sorted(await ours.metrics())).toEqual(sorted(await theirs.metrics()));
  });

  it('ignores a non-finite duration instead of corrupting the sum', async () => {
    const registry = new Registry();
    const fast = new RouteHistogram('h_seconds', 'help', BUCKETS, [registry]);
    fast.observe('GET', '/x', 200, Number.NaN);
    fast.observe('GET', '/x', 200, 0.2);
    const text = await registry.metrics();
    expect(text).toContain('h_seconds_sum{method="GET",route="/x",status_class="2xx"} 0.2');
    expect(text).toContain('h_seconds_count{method="GET",route="/x",status_class="2xx"} 1');
  });
});
