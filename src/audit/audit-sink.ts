import type { Logger } from 'pino';
import type { Metrics } from '../metrics/metrics.js';
import type { RecordedSecurityEvent, SecurityEventSink } from '../security-events.js';
import type { AuditLog } from './audit-log.js';

export interface AuditSinkOptions {
  /** Events waiting to be written; beyond it the oldest is dropped (and logged). */
  queueSize: number;
  /** Events written per transaction: batching keeps one lock round-trip for a burst. */
  batchSize?: number;
  logger: Pick<Logger, 'error'>;
  metrics: Metrics;
}

/**
 * Writes security events to the audit table without ever making a request wait for, or fail
 * on, the write: `record` only queues; one background writer drains the queue in batches.
 * A failed write or a dropped event is logged loudly with the whole event (events hold no
 * secrets) and counted, so the record survives in the log stream even when the table does not.
 */
export class AuditSink implements SecurityEventSink {
  private readonly queue: RecordedSecurityEvent[] = [];
  private draining: Promise<void> | undefined;
  private readonly batchSize: number;

  constructor(
    private readonly log: AuditLog,
    private readonly options: AuditSinkOptions,
  ) {
    this.batchSize = options.batchSize ?? 100;
  }

  record(event: RecordedSecurityEvent): void {
    if (this.queue.length >= this.options.queueSize) {
      const dropped = this.queue.shift();
      this.options.metrics.auditDropped.inc();
      this.options.logger.error(
        { securityEvent: dropped },
        'AUDIT EVENT DROPPED: the audit write queue is full (database slow or down)',
      );
    }
    this.queue.push(event);
    this.draining ??= this.drain().finally(() => (this.draining = undefined));
  }

  /** Resolves once every event queued so far has been written or given up on. */
  async flush(): Promise<void> {
    while (this.draining) await this.draining;
  }

  private async drain(): Promise<void> {
    // Let the request that emitted finish first; the write is never on its path.
    await Promise.resolve();
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.batchSize);
      try {
        await this.log.append(batch);
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
