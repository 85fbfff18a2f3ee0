import { createHmac } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { Config } from '../config/index.js';
import type { Metrics } from '../metrics/metrics.js';
import type {
  RecordedSecurityEvent,
  SecurityEventSink,
  SecurityEventType,
} from '../security-events.js';

export interface WebhookSinkOptions {
  url: string;
  /** HMAC-SHA256 key for the signature header. */
  secret: string;
  /** Only these event types are sent. */
  events: readonly SecurityEventType[];
  /** Events waiting for delivery; when full, the oldest is dropped. */
  queueSize: number;
  /** Attempts per event, the first included. */
  maxAttempts: number;
  /** Wait before the first retry; doubles on each further retry. */
  initialBackoffMs: number;
  /** Upper bound of one attempt, connect to last byte. */
  timeoutMs: number;
  logger: Pick<Logger, 'warn' | 'error'>;
  metrics: Metrics;
}

/** Header carrying `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. */
export const SIGNATURE_HEADER = 'x-bulwark-signature';

/**
 * The signature of one delivery. The timestamp is signed with the body so a receiver can refuse
 * replays of an old delivery; compare in constant time (crypto.timingSafeEqual) on the receiver.
 */
export function webhookSignature(secret: string, timestamp: number, body: string): string {
  const mac = createHmac('sha256', secret).update(`${timestamp}.${body}`, 'utf8').digest('hex');
  return `t=${timestamp},v1=${mac}`;
}

/** Largest backoff between two attempts, however many are configured. */
const MAX_BACKOFF_MS = 60_000;

/**
 * Sends chosen security events to an HTTP endpoint (a SIEM, a chat alert). Delivery is in the
 * background, one event at a time in order, with bounded exponential-backoff retries on network
 * errors, 5xx and 429; a bounded queue drops its oldest event when full. None of it can block or
 * fail a request: `record` only queues.
 */
export class WebhookSink implements SecurityEventSink {
  private readonly queue: RecordedSecurityEvent[] = [];
  private readonly wanted: ReadonlySet<string>;
  private running: Promise<void> | undefined;
  /** An event has left the queue and is not yet delivered or given up. */
  private sending = false;
  private closed = false;
  /** Aborts requests in progress (close). */
  private readonly stop = new AbortController();
  /** Cuts the backoff waits short (close, both while draining and at the end). */
  private readonly hurry = new AbortController();

  constructor(private readonly options: WebhookSinkOptions) {
    this.wanted = new Set(options.events);
  }

  record(event: RecordedSecurityEvent): void {
    if (this.closed || !this.wanted.has(event.type)) return;
    if (this.queue.length >= this.options.queueSize) {
      this.queue.shift();
      this.options.metrics.webhookDropped.inc();
      this.options.logger.warn('webhook queue full: dropped the oldest security event');
    }
    this.queue.push(event);
    this.running ??= this.run().finally(() => (this.running = undefined));
  }

  /** Resolves when the queue is empty (delivered or given up); for tests and graceful stops. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /**
   * Stops delivering. With `drainMs`, the events already waiting (and the one being sent) get up
   * to that long to be delivered first: a one-shot CLI command that emitted an event, or a service
   * shutting down, would otherwise drop it unsent. Their remaining attempts go on without the
   * backoff waits, so a failing endpoint does not hold the close for long. What is still pending
   * then is abandoned (it is in the log and the audit table), with a warning that counts it.
   */
  async close(options: { drainMs?: number } = {}): Promise<void> {
    if (this.closed) return;
    const drainMs = options.drainMs ?? 0;
    if (drainMs > 0 && this.running) {
      this.hurry.abort();
      const deadline = new AbortController();
      await Promise.race([
        this.idle(),
        delay(drainMs, undefined, { signal: deadline.signal }).catch(() => undefined),
      ]);
      deadline.abort();
    }
    this.closed = true;
    const abandoned = this.queue.splice(0).length + (this.sending ? 1 : 0);
    if (abandoned > 0)
      this.options.logger.warn({ abandoned }, 'webhook stopped with events pending');
    this.hurry.abort();
    this.stop.abort();
    await this.running?.catch(() => undefined);
  }

  private async run(): Promise<void> {
    await Promise.resolve();
    while (!this.closed && this.queue.length > 0) {
      const event = this.queue.shift()!;
      this.sending = true;
      try {
        await this.deliver(event);
      } finally {
        this.sending = false;
      }
    }
  }

  private async deliver(event: RecordedSecurityEvent): Promise<void> {
    const body = JSON.stringify({ event });
    for (let attempt = 1; attempt <= this.options.maxAttempts; attempt++) {
      if (this.closed) return;
      const outcome = await this.attempt(body);
      if (outcome === 'delivered' || outcome === 'rejected') {
        this.options.metrics.webhookDeliveries.inc({ result: outcome });
        if (outcome === 'rejected') {
          this.options.logger.warn(
            { type: event.type },
            'webhook refused a security event with a 4xx; not retrying',
          );
        }
        return;
      }
      if (attempt < this.options.maxAttempts) {
        const backoff = Math.min(
          this.options.initialBackoffMs * 2 ** (attempt - 1),
          MAX_BACKOFF_MS,
        );
        await this.sleep(backoff);
      }
    }
    this.options.metrics.webhookDeliveries.inc({ result: 'failed' });
    this.options.logger.error(
      { type: event.type, attempts: this.options.maxAttempts },
      'webhook delivery failed after every attempt; giving up on this event',
    );
  }

  /** One POST. Never throws: network errors and timeouts are a retryable outcome. */
  private async attempt(body: string): Promise<'delivered' | 'retry' | 'rejected'> {
    const timestamp = Math.floor(Date.now() / 1000);
    try {
      const response = await fetch(this.options.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'bulwark-webhook',
          [SIGNATURE_HEADER]: webhookSignature(this.options.secret, timestamp, body),
        },
        body,
        // A redirect could forward the signed event somewhere the operator never configured.
        redirect: 'manual',
        signal: AbortSignal.any([this.stop.signal, AbortSignal.timeout(this.options.timeoutMs)]),
      });
      await response.body?.cancel();
      if (response.status >= 200 && response.status < 300) return 'delivered';
      if (response.status >= 500 || response.status === 429) return 'retry';
      return 'rejected';
    } catch {
      // The error text may carry the URL (and so any credentials in it): not logged.
      return 'retry';
    }
  }

  /** Waits `ms`, or less (not at all) once close() has begun. */
  private async sleep(ms: number): Promise<void> {
    await delay(ms, undefined, { signal: this.hurry.signal }).catch(() => undefined);
  }
}

/**
 * How long closing waits for webhook deliveries in progress: one attempt's timeout, and at most
 * half the shutdown timeout, so in-flight requests and the rest of the shutdown keep the other half.
 */
export function webhookDrainMs(config: Config): number {
  return Math.min(config.audit.webhook.timeoutMs, Math.floor(config.server.shutdownTimeoutMs / 2));
}

/** The sink `audit.webhook` configures, or undefined when no URL is set. */
export function webhookSinkFromConfig(
  config: Config,
  logger: Pick<Logger, 'warn' | 'error'>,
  metrics: Metrics,
): WebhookSink | undefined {
  const w = config.audit.webhook;
  // The config rules refuse a url without a secret; the check here keeps the types honest.
  if (w.url === undefined || w.secret === undefined) return undefined;
  return new WebhookSink({
    url: w.url,
    secret: w.secret,
    events: w.events,
    queueSize: w.queueSize,
    maxAttempts: w.maxAttempts,
    initialBackoffMs: w.initialBackoffMs,
    timeoutMs: w.timeoutMs,
    logger,
    metrics,
  });
}
