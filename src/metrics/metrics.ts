import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { RouteHistogram } from './route-histogram.js';

/**
 * Bulwark's Prometheus metrics, on a registry of their own rather than prom-client's global one:
 * several apps in one process (tests, a team embedding Bulwark next to its own metrics) then
 * never collide on metric names.
 * @see https://prometheus.io/docs/practices/naming/
 */
export class Metrics {
  readonly registry = new Registry();
  private defaultsCollected = false;

  /** Labels method, route (templates, never raw URLs: ids would make the set unbounded), status_class. */
  readonly httpRequestDuration = new RouteHistogram(
    'bulwark_http_request_duration_seconds',
    'HTTP request duration by route template and status class.',
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    [this.registry],
  );

  /** HTTP requests being handled now: counted here (a plain number), read at each scrape. */
  requestsInFlight = 0;

  readonly httpInFlight: Gauge = new Gauge({
    name: 'bulwark_http_requests_in_flight',
    help: 'HTTP requests being handled now.',
    registers: [this.registry],
    collect: () => {
      this.httpInFlight.set(this.requestsInFlight);
    },
  });

  readonly logins = new Counter({
    name: 'bulwark_logins_total',
    help: 'Password logins by outcome (success, failure).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly loginsThrottled = new Counter({
    name: 'bulwark_logins_throttled_total',
    help: 'Logins refused by failed-login throttling.',
    registers: [this.registry],
  });

  readonly rateLimited = new Counter({
    name: 'bulwark_rate_limited_requests_total',
    help: 'Requests refused by a rate limit (429).',
    registers: [this.registry],
  });

  readonly invalidTokens = new Counter({
    name: 'bulwark_invalid_tokens_total',
    help: 'Bearer tokens refused as invalid (forged, expired, of an ended session).',
    registers: [this.registry],
  });

  readonly refreshReuse = new Counter({
    name: 'bulwark_refresh_token_reuse_total',
    help: 'Reuses of a rotated refresh token (each revoked its token family).',
    registers: [this.registry],
  });

  readonly accessDenied = new Counter({
    name: 'bulwark_access_denied_total',
    help: 'Requests denied by authorization, by answered status (403, or 404 for objects of others).',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });

  readonly securityEvents = new Counter({
    name: 'bulwark_security_events_total',
    help: 'Security events emitted, by type and outcome.',
    labelNames: ['type', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly passwordHashDuration = new Histogram({
    name: 'bulwark_password_hash_duration_seconds',
    help: 'Time to compute one password hash or verification (argon2id, bcrypt), excluding queueing.',
    labelNames: ['operation'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  readonly auditWriteFailures = new Counter({
    name: 'bulwark_audit_write_failures_total',
    help: 'Security events that could not be written to the audit table (they went to the log).',
    registers: [this.registry],
  });

  readonly auditDropped = new Counter({
    name: 'bulwark_audit_events_dropped_total',
    help: 'Security events dropped from the full audit write queue (they went to the log).',
    registers: [this.registry],
  });

  readonly webhookDeliveries = new Counter({
    name: 'bulwark_webhook_deliveries_total',
    help: 'Webhook deliveries by result (delivered, failed after all attempts, rejected by a 4xx).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly emails = new Counter({
    name: 'bulwark_emails_total',
    help: 'Account e-mails by kind and result (sent; failed after all attempts; dropped: not queued).',
    labelNames: ['kind', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly webhookDropped = new Counter({
    name: 'bulwark_webhook_dropped_total',
    help: 'Webhook events dropped because the delivery queue was full (oldest first).',
    registers: [this.registry],
  });

  /**
   * Adds prom-client's process metrics (memory, CPU, event-loop lag, GC) to this registry.
   * Separate from the constructor because CLI commands build the services too and need none.
   */
  collectDefaults(): void {
    if (this.defaultsCollected) return;
    this.defaultsCollected = true;
    collectDefaultMetrics({ register: this.registry, prefix: 'bulwark_' });
  }

  /** The exposition text for a scrape. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
