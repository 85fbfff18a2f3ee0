import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  SIGNATURE_HEADER,
  WebhookSink,
  type WebhookSinkOptions,
} from '../../src/audit/webhook-sink.js';
import { Metrics } from '../../src/metrics/metrics.js';
import type { RecordedSecurityEvent } from '../../src/security-events.js';
import { buildTestApp } from '../helpers/app.js';
import { registerAndLogin } from '../helpers/identity.js';
import { HANG, WebhookReceiver as Receiver } from '../helpers/webhook-receiver.js';

const SECRET = 'webhook-test-secret-0123456789abcdef';

const receivers: Receiver[] = [];
const sinks: WebhookSink[] = [];
afterEach(async () => {
  for (const s of sinks.splice(0)) await s.close();
  for (const r of receivers.splice(0)) await r.stop();
});

async function receiver(statuses: number[] = [], answerAfterMs = 0): Promise<Receiver> {
  const r = await new Receiver(statuses, answerAfterMs).start();
  receivers.push(r);
  return r;
}

function sink(options: Partial<WebhookSinkOptions> & { url: string }) {
  const metrics = new Metrics();
  const lines: Record<string, unknown>[] = [];
  const logger = pino(
    { level: 'warn' },
    { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  const s = new WebhookSink({
    secret: SECRET,
    events: ['refresh.reused', 'login.throttled'],
    queueSize: 10,
    maxAttempts: 3,
    initialBackoffMs: 20,
    timeoutMs: 2_000,
    logger,
    metrics,
    ...options,
  });
  sinks.push(s);
  return { sink: s, metrics, lines };
}

/** Waits (on the event loop, a few ms at a time) until `done` holds; fails after 10 s. */
async function until(done: () => boolean): Promise<void> {
  for (let waited = 0; !done(); waited += 5) {
    if (waited > 10_000) throw new Error('condition not reached in 10 s');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function event(
  type: RecordedSecurityEvent['type'] = 'refresh.reused',
  n = 0,
): RecordedSecurityEvent {
  return {
    type,
    outcome: 'denied',
    time: 1_700_000_000_000 + n,
    ip: '203.0.113.1',
    target: { type: 'session', id: `s-${n}` },
  };
}

async function counter(metrics: Metrics, name: 'webhookDeliveries' | 'webhookDropped') {
  const { values } = await metrics[name].get();
  return Object.fromEntries(values.map((v) => [String(v.labels.result ?? 'all'), v.value]));
}

describe('WebhookSink', () => {
  it('delivers chosen event types with a verifiable HMAC-SHA256 signature', async () => {
    const r = await receiver();
    const { sink: s, metrics } = sink({ url: r.url });
    s.record(event('refresh.reused', 1));
    s.record(event('login.failed', 2)); // not a chosen type
    s.record(event('login.throttled', 3));
    await s.idle();

    expect(r.received).toHaveLength(2);
    const [first] = r.received;
    expect(first!.headers['content-type']).toBe('application/json');
    const body = JSON.parse(first!.body) as { event: RecordedSecurityEvent };
    expect(body.event).toMatchObject({ type: 'refresh.reused', target: { id: 's-1' } });
    const signature = String(first!.headers[SIGNATURE_HEADER]);
    const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(signature);
    expect(match).not.toBeNull();
    const expected = createHmac('sha256', SECRET)
      .update(`${match![1]}.${first!.body}`)
      .digest('hex');
    expect(match![2]).toBe(expected);
    expect(Math.abs(Number(match![1]) - Date.now() / 1000)).toBeLessThan(60);
    expect(first!.body).not.toContain(SECRET);
    expect(await counter(metrics, 'webhookDeliveries')).toEqual({ delivered: 2 });
  });

  it('retries after 500s with backoff, then delivers', async () => {
    const r = await receiver([500, 503]);
    const { sink: s, metrics } = sink({ url: r.url, initialBackoffMs: 50 });
    const started = Date.now();
    s.record(event());
    await s.idle();
    expect(r.received).toHaveLength(3);
    // 50 ms, then 100 ms between attempts.
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(new Set(r.received.map((x) => x.body)).size).toBe(1);
    expect(await counter(metrics, 'webhookDeliveries')).toEqual({ delivered: 1 });
  });

  it('gives up after maxAttempts without harm, and goes on with the next event', async () => {
    const r = await receiver([500, 500, 500]);
    const { sink: s, metrics, lines } = sink({ url: r.url, maxAttempts: 3 });
    s.record(event('refresh.reused', 1));
    s.record(event('refresh.reused', 2));
    await s.idle();
    expect(r.received).toHaveLength(4);
    expect(await counter(metrics, 'webhookDeliveries')).toEqual({ failed: 1, delivered: 1 });
    expect(lines.some((l) => String(l.msg).includes('giving up'))).toBe(true);
  });

  it('does not retry a 4xx refusal', async () => {
    const r = await receiver([400]);
    const { sink: s, metrics } = sink({ url: r.url });
    s.record(event());
    await s.idle();
    expect(r.received).toHaveLength(1);
    expect(await counter(metrics, 'webhookDeliveries')).toEqual({ rejected: 1 });
  });

  // docs/security.md "Security events": redirects are not followed, so a compromised or
  // misconfigured endpoint cannot forward the signed events somewhere else.
  it('does not follow a redirect: the signed event goes to the configured URL only', async () => {
    const elsewhere = await receiver();
    const redirecting = createServer((request, response) => {
      request.resume();
      request.on('end', () => response.writeHead(307, { location: elsewhere.url }).end());
    });
    await new Promise<void>((resolve) => redirecting.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(redirecting.address() as AddressInfo).port}/hook`;
      const { sink: s, metrics } = sink({ url });
      s.record(event());
      await s.idle();
      expect(elsewhere.received).toEqual([]);
      expect(await counter(metrics, 'webhookDeliveries')).toEqual({ rejected: 1 });
    } finally {
      redirecting.closeAllConnections();
      await new Promise((resolve) => redirecting.close(resolve));
    }
  });

  it('survives an unreachable endpoint, without logging the URL', async () => {
    const r = await receiver();
    const url = r.url.replace('/hook', '/x?key=url-secret');
    await r.stop();
    receivers.splice(0);
    const { sink: s, metrics, lines } = sink({ url, maxAttempts: 2 });
    s.record(event());
    await s.idle();
    expect(await counter(metrics, 'webhookDeliveries')).toEqual({ failed: 1 });
    expect(JSON.stringify(lines)).not.toContain('url-secret');
  });

  it('bounds its queue: drops the oldest events when full, and counts them', async () => {
    const r = await receiver(Array(100).fill(500) as number[]);
    const { sink: s, metrics } = sink({
      url: r.url,
      queueSize: 2,
      maxAttempts: 2,
      initialBackoffMs: 30,
    });
    // Recorded in one tick: all six meet a queue of two, so the four oldest are dropped.
    for (let i = 0; i < 6; i++) s.record(event('refresh.reused', i));
    expect(await counter(metrics, 'webhookDropped')).toEqual({ all: 4 });
    await s.idle();
    const delivered = r.received.map(
      (x) => (JSON.parse(x.body) as { event: RecordedSecurityEvent }).event.target?.id,
    );
    expect([...new Set(delivered)]).toEqual(['s-4', 's-5']);
  });

  it('closing with a drain delivers what is still waiting first', async () => {
    const r = await receiver([], 100);
    const { sink: s, metrics, lines } = sink({ url: r.url });
    s.record(event('refresh.reused', 1));
    s.record(event('refresh.reused', 2));
    await s.close({ drainMs: 10_000 });
    expect(
      r.received.map(
        (x) => (JSON.parse(x.body) as { event: RecordedSecurityEvent }).event.target?.id,
      ),
    ).toEqual(['s-1', 's-2']);
    expect(await counter(metrics, 'webhookDeliveries')).toEqual({ delivered: 2 });
    expect(lines).toEqual([]);
    // Closed: later events are not taken.
    s.record(event('refresh.reused', 3));
    await s.idle();
    expect(r.received).toHaveLength(2);
  });

  it('a drain makes the remaining attempts without their backoff waits', async () => {
    const r = await receiver([500, 500, 500]);
    const {
      sink: s,
      metrics,
      lines,
    } = sink({
      url: r.url,
      maxAttempts: 3,
      initialBackoffMs: 60_000,
    });
    s.record(event());
    await until(() => r.received.length === 1);
    // Without the drain's hurry the next attempt would wait a minute (and the test time out).
    await s.close({ drainMs: 30_000 });
    expect(r.received).toHaveLength(3);
    expect(await counter(metrics, 'webhookDeliveries')).toEqual({ failed: 1 });
    expect(lines.map((l) => l.msg)).toEqual([
      'webhook delivery failed after every attempt; giving up on this event',
    ]);
  });

  it('a drain is bounded: an endpoint that never answers is abandoned, and counted', async () => {
    const r = await receiver([HANG]);
    const { sink: s, metrics, lines } = sink({ url: r.url, timeoutMs: 60_000 });
    s.record(event('refresh.reused', 1));
    s.record(event('refresh.reused', 2));
    await until(() => r.received.length === 1);
    await s.close({ drainMs: 50 });
    // The event in flight counts as abandoned too: nothing was delivered.
    expect(lines).toEqual([
      expect.objectContaining({ abandoned: 2, msg: 'webhook stopped with events pending' }),
    ]);
    expect(await counter(metrics, 'webhookDeliveries')).toEqual({});
  });

  it('closing without a drain abandons at once, the event in flight included', async () => {
    const r = await receiver([HANG]);
    const { sink: s, lines } = sink({ url: r.url, timeoutMs: 60_000 });
    s.record(event());
    await until(() => r.received.length === 1);
    await s.close();
    expect(lines).toEqual([
      expect.objectContaining({ abandoned: 1, msg: 'webhook stopped with events pending' }),
    ]);
  });

  it('never blocks or fails requests while the endpoint is failing', async () => {
    const r = await receiver(Array(100).fill(500) as number[]);
    const t = await buildTestApp({
      audit: {
        webhook: {
          url: r.url,
          secret: SECRET,
          events: ['login.succeeded'],
          maxAttempts: 5,
          initialBackoffMs: 10_000,
        },
      },
    });
    try {
      const started = Date.now();
      await registerAndLogin(t.app);
      const me = await registerAndLogin(t.app);
      expect(me.accessToken).toBeTruthy();
      // Two logins answered while the first delivery sits in a 10 s backoff.
      expect(Date.now() - started).toBeLessThan(8_000);
      // Delivered in the background: waited for, not given a fixed 100 ms.
      await vi.waitFor(() => expect(r.received.length).toBeGreaterThanOrEqual(1), {
        timeout: 5_000,
      });
      expect(JSON.parse(r.received[0]!.body)).toMatchObject({ event: { type: 'login.succeeded' } });
    } finally {
      // Closing makes the last attempts at once rather than waiting out the 10 s backoff.
      const closing = Date.now();
      await t.app.close();
      expect(Date.now() - closing).toBeLessThan(5_000);
    }
  });
});
