import type { Logger } from 'pino';
import { isDatabaseUnavailable } from '../db/index.js';
import type { Metrics } from '../metrics/metrics.js';
import type { RecordedSecurityEvent, SecurityEventSink } from '../security-events.js';
import type { AuditLog } from './audit-log.js';
import { EventCoalescer } from './event-coalescer.js';

/** See AuditSinkOptions.batchDelayMs. */
const DEFAULT_BATCH_DELAY_MS = 20;

/**
 * Waits before each new try of a batch the database could not take now (PostgreSQL restarting or
 * briefly cut off, SQLite busy past its timeout): about 4 s in all, so a blip loses no events.
 * Any other failure (a fault of the query or the data) would fail again and is not retried.
 */
const RETRY_DELAYS_MS = [250, 1_000, 3_000];

export interface AuditSinkOptions {
  /** Events waiting to be written; beyond it the oldest is dropped (and logged). */
  queueSize: number;
  /** Events written per transaction: batching keeps one lock round-trip for a burst. */
  batchSize?: number;
  /**
   * How long the writer waits for more events before it writes, in ms (default 20; 0: only
   * those of the current tick). Each append is a transaction under the chain lock (BEGIN
   * IMMEDIATE on SQLite, a row lock on PostgreSQL) with four statements; a login storm emits
   * one event per request, each in its own tick, so without the wait every login paid for a
   * transaction of its own. A full batch or `flush()` ends the wait early.
   */
  batchDelayMs?: number;
  logger: Pick<Logger, 'error'>;
  metrics: Metrics;
  /**
   * How long repeats of a refusal a client can cause for free (`rate_limit.exceeded`) are counted
   * into one summary row instead of written one by one, in ms (default 60 000). See
   * EventCoalescer.
   */
  coalesceWindowMs?: number;
  /** The clock the coalescing windows end by (default Date.now). */
  now?: () => number;
}

/** Distinct repeating refusals counted at once (about 1 KB each); beyond it, summarised early. */
const MAX_COALESCED_KEYS = 10_000;

/**
 * Writes security events to the audit table without ever making a request wait for, or fail
 * on, the write: `record` only queues; one background writer drains the queue in batches.
 * A batch the database cannot take now is tried again for a few seconds; a write that still
 * fails, or a dropped event, is logged loudly with the whole event (events hold no secrets) and
 * counted, so the record survives in the log stream even when the table does not.
 */
export class AuditSink implements SecurityEventSink {
  private readonly queue: RecordedSecurityEvent[] = [];
  private draining: Promise<void> | undefined;
  private readonly batchSize: number;
  private readonly batchDelayMs: number;
  /** Ends the writer's wait for more events at once (set while it waits). */
  private endWait: (() => void) | undefined;
  /** Ends the writer's pause before retrying a batch (set while it pauses); see flush(). */
  private endPause: (() => void) | undefined;
  private flushing = 0;
  private readonly coalescer: EventCoalescer;
  private readonly now: () => number;
  /** Writes the summaries of ended windows; runs only while some window is open. */
  private summaries: NodeJS.Timeout | undefined;
  private readonly summaryEveryMs: number;

  constructor(
    private readonly log: AuditLog,
    private readonly options: AuditSinkOptions,
  ) {
    this.batchSize = options.batchSize ?? 100;
    this.batchDelayMs = options.batchDelayMs ?? DEFAULT_BATCH_DELAY_MS;
    const windowMs = options.coalesceWindowMs ?? 60_000;
    this.coalescer = new EventCoalescer({ windowMs, maxKeys: MAX_COALESCED_KEYS });
    this.now = options.now ?? Date.now;
    this.summaryEveryMs = Math.max(Math.min(windowMs / 4, 5_000), 10);
  }

  record(event: RecordedSecurityEvent): void {
    for (const stored of this.coalescer.admit(event)) this.enqueue(stored);
    if (this.coalescer.size > 0 && this.summaries === undefined) {
      // Unref'd: flush() (at close) writes what is left, so it never holds the process up.
      this.summaries = setInterval(() => this.writeDueSummaries(this.now()), this.summaryEveryMs);
      this.summaries.unref();
    }
  }

  private writeDueSummaries(now: number): void {
    for (const summary of this.coalescer.due(now)) this.enqueue(summary);
    if (this.coalescer.size === 0 && this.summaries !== undefined) {
      clearInterval(this.summaries);
      this.summaries = undefined;
    }
  }

  private enqueue(event: RecordedSecurityEvent): void {
    if (this.queue.length >= this.options.queueSize) {
      const dropped = this.queue.shift();
      this.options.metrics.auditDropped.inc();
      this.options.logger.error(
        { securityEvent: dropped },
        'AUDIT EVENT DROPPED: the audit write queue is full (database slow or down)',
      );
    }
    this.queue.push(event);
    if (this.queue.length >= this.batchSize) this.endWait?.();
    this.draining ??= this.drain().finally(() => (this.draining = undefined));
  }

  /**
   * Resolves once every event queued so far has been written or given up on, with the summaries
   * of the refusals being counted (their windows end here).
   */
  async flush(): Promise<void> {
    this.writeDueSummaries(Number.POSITIVE_INFINITY);
    // Retries go on, without their pauses: a shutdown is not held up for seconds per batch.
    this.flushing += 1;
    try {
      while (this.draining) {
        this.endWait?.();
        this.endPause?.();
        await this.draining;
      }
    } finally {
      this.flushing -= 1;
    }
  }

  private pause(ms: number): Promise<void> {
    if (this.flushing > 0) return Promise.resolve();
    return new Promise((resolve) => {
      // Not unref'd, like gather(): the events in hand keep the process up for this long at most.
      const timer = setTimeout(() => this.endPause?.(), ms);
      this.endPause = () => {
        clearTimeout(timer);
        this.endPause = undefined;
        resolve();
      };
    });
  }

  /** Appends `batch`, trying again after a pause while the database is unavailable. */
  private async append(batch: RecordedSecurityEvent[]): Promise<void> {
    for (let attempt = 0; ; attempt += 1) {
      try {
        await this.log.append(batch);
        return;
      } catch (error) {
        const delay = RETRY_DELAYS_MS[attempt];
        if (delay === undefined || !isDatabaseUnavailable(error)) throw error;
        await this.pause(delay);
      }
    }
  }

  /** Lets the request that emitted finish first (the write is never on its path), and more events arrive. */
  private gather(): Promise<void> {
    if (this.batchDelayMs <= 0 || this.queue.length >= this.batchSize) return Promise.resolve();
    return new Promise((resolve) => {
      // Not unref'd: queued events keep the process up for at most this delay.
      const timer = setTimeout(() => this.endWait?.(), this.batchDelayMs);
      this.endWait = () => {
        clearTimeout(timer);
        this.endWait = undefined;
        resolve();
      };
    });
  }

  private async drain(): Promise<void> {
    await this.gather();
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.batchSize);
      try {
        await this.append(batch);
      } catch (error) {
        this.options.metrics.auditWriteFailures.inc(batch.length);
        for (const event of batch) {
          this.options.logger.error(
            { err: error, securityEvent: event },
            'AUDIT WRITE FAILED: security event not stored in the audit table; this log line is its only record',
          );
        }
      }
    }
  }
}
