import { afterEach, describe, expect, it } from 'vitest';
import { createConfig, loadConfig } from '../../src/config/index.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { MetricsServer } from '../../src/metrics/metrics-server.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { buildTestApp, testConfigInput, type TestApp } from '../helpers/app.js';
import { createMigratedTestDb, type TestDb } from '../helpers/db.js';
import { sendRaw } from '../helpers/raw-http.js';
import {
  bearer,
  createUserAndLogin,
  registerAndLogin,
  STRONG_PASSWORD,
} from '../helpers/identity.js';

const TOKEN = 'metrics-token-0123456789abcdef0123456789';

const apps: TestApp[] = [];
const servers: RunningServer[] = [];
const dbs: TestDb[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
  for (const d of dbs.splice(0)) await d.cleanup();
  for (const t of apps.splice(0)) await t.app.close();
});

async function app(input: Parameters<typeof buildTestApp>[0] = {}): Promise<TestApp> {
  const t = await buildTestApp(input);
  apps.push(t);
  return t;
}

async function scrape(t: TestApp): Promise<string> {
  const res = await t.app.inject({ method: 'GET', url: '/metrics', headers: bearer(TOKEN) });
  expect(res.statusCode).toBe(200);
  return res.body;
}

/** The value of one sample line, e.g. `bulwark_logins_total{outcome="success"}`. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('GET /metrics', () => {
  it('does not exist by default (404)', async () => {
    const t = await app();
    const res = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(404);
    const withToken = await t.app.inject({
      method: 'GET',
      url: '/metrics',
      headers: bearer(TOKEN),
    });
    expect(withToken.statusCode).toBe(404);
  });

  it('refuses anonymous and wrong-token scrapes with 401', async () => {
    const t = await app({ metrics: { token: TOKEN } });
    const anon = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(anon.statusCode).toBe(401);
    expect(anon.json()).toMatchObject({ code: 'authentication_required' });
    expect(anon.headers['www-authenticate']).toContain('Bearer');
    for (const header of [
      `Bearer ${TOKEN}x`,
      `Bearer ${TOKEN.slice(0, -1)}`,
      `bearer ${TOKEN.toUpperCase()}`,
      'Bearer ',
      `Bearer  ${TOKEN}`,
      `Basic ${TOKEN}`,
      TOKEN,
    ]) {
      const res = await t.app.inject({
        method: 'GET',
        url: '/metrics',
        headers: { authorization: header },
      });
      expect(res.statusCode, header).toBe(401);
      expect(res.body).not.toContain('bulwark_');
    }
  });

  it('accepts the bearer scheme in any case (RFC 9110 §11.1)', async () => {
    const t = await app({ metrics: { token: TOKEN } });
    for (const scheme of ['bearer', 'BEARER']) {
      const res = await t.app.inject({
        method: 'GET',
        url: '/metrics',
        headers: { authorization: `${scheme} ${TOKEN}` },
      });
      expect(res.statusCode, scheme).toBe(200);
    }
  });

  it('exposes the counters after the matching actions', async () => {
    const t = await app({ metrics: { token: TOKEN }, tokens: { refreshReuseGraceSeconds: 0 } });
    const user = await registerAndLogin(t.app);
    await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: user.email, password: 'definitely not it 123' },
    });
    await t.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: bearer('x.y.z') });
    const admin = await createUserAndLogin(t.app, 'admin');
    await t.app.inject({ method: 'GET', url: '/api/v1/users', headers: bearer(user.accessToken) });
    await t.app.inject({
      method: 'GET',
      url: `/api/v1/users/${admin.id}`,
      headers: bearer(user.accessToken),
    });
    t.app.services.events.emit({ type: 'login.throttled', outcome: 'denied' });
    t.app.services.events.emit({ type: 'rate_limit.exceeded', outcome: 'denied' });
    t.app.services.events.emit({ type: 'refresh.reused', outcome: 'denied' });

    const text = await scrape(t);
    expect(sample(text, 'bulwark_logins_total{outcome="success"}')).toBe(2);
    expect(sample(text, 'bulwark_logins_total{outcome="failure"}')).toBe(1);
    expect(sample(text, 'bulwark_invalid_tokens_total')).toBe(1);
    expect(sample(text, 'bulwark_access_denied_total{status="403"}')).toBe(1);
    expect(sample(text, 'bulwark_access_denied_total{status="404"}')).toBe(1);
    expect(sample(text, 'bulwark_logins_throttled_total')).toBe(1);
    expect(sample(text, 'bulwark_rate_limited_requests_total')).toBe(1);
    expect(sample(text, 'bulwark_refresh_token_reuse_total')).toBe(1);
    expect(
      sample(text, 'bulwark_security_events_total{type="login.failed",outcome="failure"}'),
    ).toBe(1);
    expect(sample(text, 'bulwark_audit_write_failures_total')).toBe(0);
    expect(sample(text, 'bulwark_webhook_dropped_total')).toBe(0);
    // Route templates, never raw ids, and status classes.
    expect(text).toMatch(
      /bulwark_http_request_duration_seconds_count\{method="POST",route="\/api\/v1\/auth\/login",status_class="2xx"\} 2/,
    );
    expect(text).toMatch(/route="\/api\/v1\/users\/:id",status_class="4xx"/);
    expect(text).not.toContain(admin.id);
    expect(text).toMatch(/bulwark_http_requests_in_flight 1/); // the scrape itself
    expect(text).toMatch(/bulwark_password_hash_duration_seconds_count\{operation="verify"\} \d/);
    expect(text).toMatch(/bulwark_password_hash_duration_seconds_count\{operation="hash"\} \d/);
    expect(text).toContain('bulwark_nodejs_eventloop_lag_seconds');
    expect(text).toContain('bulwark_process_resident_memory_bytes');
    // No secret of any kind in the exposition.
    expect(text).not.toContain(TOKEN);
    expect(text).not.toContain(STRONG_PASSWORD);
  });

  it('keeps the metrics of two apps in one process apart', async () => {
    const a = await app({ metrics: { token: TOKEN } });
    const b = await app({ metrics: { token: TOKEN } });
    await registerAndLogin(a.app);
    expect(sample(await scrape(a), 'bulwark_logins_total{outcome="success"}')).toBe(1);
    expect(sample(await scrape(b), 'bulwark_logins_total{outcome="success"}')).toBeUndefined();
  });
});

describe('the separate metrics port', () => {
  async function serve(metrics: { token?: string }) {
    const testDb = await createMigratedTestDb();
    dbs.push(testDb);
    const config = createConfig(
      testConfigInput(testDb, {
        server: { port: 0 },
        metrics: { port: 0, ...metrics },
        log: { level: 'silent' },
      }),
    );
    const server = await startServer(config);
    servers.push(server);
    return server;
  }

  it('serves /metrics on loopback only there, nothing else; the main port stays 404', async () => {
    const server = await serve({});
    expect(server.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const res = await fetch(server.metricsUrl!);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    expect(await res.text()).toContain('bulwark_http_requests_in_flight');
    expect((await fetch(server.metricsUrl!.replace('/metrics', '/api/v1/users'))).status).toBe(404);
    expect((await fetch(`${server.url}/metrics`)).status).toBe(404);
  });

  it('requires the token there too when one is configured', async () => {
    const server = await serve({ token: TOKEN });
    expect((await fetch(server.metricsUrl!)).status).toBe(401);
    const wrong = await fetch(server.metricsUrl!, { headers: { authorization: 'Bearer nope' } });
    expect(wrong.status).toBe(401);
    const ok = await fetch(server.metricsUrl!, { headers: bearer(TOKEN) });
    expect(ok.status).toBe(200);
    await ok.text();
  });

  it('refuses in problem+json and records a wrong token as on the main port', async () => {
    const server = await serve({ token: TOKEN });
    const guess = 'a-guessed-metrics-token-0123456789abcdef';
    const refusals: [Response, number, string][] = [
      [await fetch(server.metricsUrl!), 401, 'authentication_required'],
      [
        await fetch(server.metricsUrl!, {
          headers: { authorization: `Bearer ${guess}`, 'user-agent': 'scraper-probe/1' },
        }),
        401,
        'invalid_token',
      ],
      [await fetch(server.metricsUrl!.replace('/metrics', '/api/v1/users')), 404, 'not_found'],
      [await fetch(server.metricsUrl!, { method: 'POST' }), 405, 'method_not_allowed'],
    ];
    for (const [res, status, code] of refusals) {
      expect(res.status, code).toBe(status);
      expect(res.headers.get('content-type'), code).toBe('application/problem+json; charset=utf-8');
      const requestId = res.headers.get('x-request-id');
      expect(await res.json(), code).toEqual({
        type: `urn:bulwark:problem:${code}`,
        title: expect.any(String) as unknown,
        status,
        detail: expect.any(String) as unknown,
        code,
        requestId,
      });
    }
    expect(refusals[0]![0].headers.get('www-authenticate')).toBe('Bearer realm="metrics"');
    expect(refusals[3]![0].headers.get('allow')).toBe('GET, HEAD');

    // The wrong token was recorded (a brute force on this port was invisible), never the guess.
    await server.app.services.auditSink.flush();
    const events = await server.app.services.auditLog.list({ type: 'token.invalid', limit: 10 });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      outcome: 'denied',
      ip: '127.0.0.1',
      user_agent: 'scraper-probe/1',
      request_id: refusals[1]![0].headers.get('x-request-id'),
    });
    expect(JSON.parse(events[0]!.details)).toEqual({ reason: 'wrong metrics token' });
    expect(JSON.stringify(events)).not.toContain(guess);
  });
});

describe('metrics config', () => {
  it('refuses a non-loopback metrics listener without a token, and a too-short token', () => {
    expect(() => createConfig({ metrics: { port: 9464, host: '0.0.0.0' } })).toThrow(
      /metrics\.host/,
    );
    expect(() => createConfig({ metrics: { token: 'short' } })).toThrow(/metrics\.token/);
    expect(() =>
      createConfig({ metrics: { port: 9464, host: '0.0.0.0', token: TOKEN } }),
    ).not.toThrow();
  });

  it('refuses a webhook without a secret, and plain http in production', () => {
    expect(() =>
      createConfig({ audit: { webhook: { url: 'https://siem.example.com/in' } } }),
    ).toThrow(/audit\.webhook\.secret/);
    expect(() =>
      createConfig({ audit: { webhook: { url: 'ftp://x.example.com', secret: TOKEN } } }),
    ).toThrow(/http\(s\)/);
  });

  it('reads the audit and metrics settings from the environment, redacting secrets in errors', () => {
    const config = loadConfig({
      env: {
        BULWARK_AUDIT_WEBHOOK_URL: 'https://siem.example.com/in',
        BULWARK_AUDIT_WEBHOOK_SECRET: TOKEN,
        BULWARK_AUDIT_WEBHOOK_EVENTS: 'refresh.reused,user.deleted',
        BULWARK_METRICS_TOKEN: TOKEN,
        BULWARK_METRICS_PORT: '9464',
        BULWARK_AUDIT_RETENTION_DAYS: '90',
      },
    });
    expect(config.audit.webhook.events).toEqual(['refresh.reused', 'user.deleted']);
    expect(config.metrics).toMatchObject({ token: TOKEN, port: 9464, host: '127.0.0.1' });
    expect(config.audit.retentionDays).toBe(90);

    const bad = (): unknown =>
      loadConfig({
        env: {
          BULWARK_AUDIT_WEBHOOK_EVENTS: 'user.hacked',
          BULWARK_METRICS_TOKEN: 'too-short-secret',
        },
      });
    expect(bad).toThrow(/BULWARK_AUDIT_WEBHOOK_EVENTS/);
    expect(bad).toThrow(/BULWARK_METRICS_TOKEN/);
    expect(bad).not.toThrow(/too-short-secret/);
  });
});

// The metrics listener set requestTimeout after creating its server: Node then kept its 60 s
// headersTimeout (swapping the two, so a body could take 60 s) and looked for expired requests
// every 30 s. A scraper port that a slow client holds for 90 s instead of 10 s.
// Each case has a listener of its own and waits out its 1 s timeout alongside the others.
describe.concurrent('the metrics listener request timeout', () => {
  it('bounds headers and body by the same timeout, checked often', async () => {
    const listener = new MetricsServer(new Metrics(), undefined);
    const server = (listener as unknown as { server: Record<string, unknown> }).server;
    expect(server.requestTimeout).toBe(10_000);
    expect(server.headersTimeout).toBe(10_000);
    expect(server.connectionsCheckingInterval).toBe(1_000);
    await listener.close();
  });

  it.each([
    ['headers that never end', 'GET /metrics HTTP/1.1\r\nHost: a\r\n'],
    [
      'a body that never arrives',
      'POST /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n{',
    ],
  ])('closes a connection with %s on time', async (_label, bytes) => {
    const listener = new MetricsServer(new Metrics(), undefined, undefined, {
      requestTimeoutMs: 1_000,
    });
    try {
      const port = Number(new URL(await listener.listen('127.0.0.1', 0)).port);
      const started = performance.now();
      const res = await sendRaw(port, bytes);
      const elapsed = performance.now() - started;
      expect(res.raw).toContain('HTTP/1.1 408');
      expect(elapsed).toBeGreaterThanOrEqual(950);
      expect(elapsed).toBeLessThan(2_500);
    } finally {
      await listener.close();
    }
  });
});
