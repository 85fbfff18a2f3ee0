import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { AuditLog } from '../../src/audit/audit-log.js';
import { AuditSink } from '../../src/audit/audit-sink.js';
import { Metrics } from '../../src/metrics/metrics.js';
import type { RecordedSecurityEvent } from '../../src/security-events.js';

function event(n: number): RecordedSecurityEvent {
  return { type: 'login.failed', outcome: 'failure', time: n, requestId: `r-${n}` };
}

function setup(
  append: (events: readonly RecordedSecurityEvent[]) => Promise<void>,
  options: { batchSize?: number; batchDelayMs?: number } = {},
) {
  const lines: Record<string, unknown>[] = [];
  const logger = pino(
    { level: 'error' },
    { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  const metrics = new Metrics();
  const log = { append } as unknown as AuditLog;
  return {
    sink: new AuditSink(log, { queueSize: 2, batchSize: 10, logger, metrics, ...options }),
    lines,
    metrics,
  };
}

/** A sink whose writes succeed and are recorded as batches of event times. */
function batchingSink(options: { batchSize?: number; batchDelayMs?: number }) {
  const batches: number[][] = [];
  const { sink } = setup((events) => {
    batches.push(events.map((e) => e.time));
    return Promise.resolve();
  }, options);
  return { sink, batches };
}

describe('AuditSink', () => {
  it('returns at once: recording never waits for the database', () => {
    const { sink } = setup(() => new Promise<void>(() => undefined)); // a write that never ends
    // Synchronous, with nothing to wait for: what a bound of 50 ms checked, except that a GC
    // pause or a busy CI machine could break the bound without the sink waiting on anything.
    for (let i = 0; i < 2; i++) expect(sink.record(event(i))).toBeUndefined();
  });

  it('bounds its queue: drops the oldest, logs each dropped event loudly and counts it', async () => {
    const written: number[] = [];
    const { sink, lines, metrics } = setup((events) => {
      written.push(...events.map((e) => e.time));
      return Promise.resolve();
    });
    for (let i = 1; i <= 5; i++) sink.record(event(i));
    await sink.flush();
    expect(written).toEqual([4, 5]);
    expect((await metrics.auditDropped.get()).values[0]!.value).toBe(3);
    const dropped = lines.filter((l) => String(l.msg).startsWith('AUDIT EVENT DROPPED'));
    expect(dropped.map((l) => (l.securityEvent as { time: number }).time)).toEqual([1, 2, 3]);
  });

  it('logs and counts every event of a failed batch, then carries on', async () => {
    let calls = 0;
    const { sink, lines, metrics } = setup(() => {
      calls += 1;
      return calls === 1
        ? Promise.reject(new Error('SQLITE_ERROR: no such table'))
        : Promise.resolve();
    });
    sink.record(event(1));
    sink.record(event(2));
    await sink.flush();
    sink.record(event(3));
    await sink.flush();
    expect(calls).toBe(2);
    expect((await metrics.auditWriteFailures.get()).values[0]!.value).toBe(2);
    expect(lines.filter((l) => String(l.msg).startsWith('AUDIT WRITE FAILED'))).toHaveLength(2);
  });

  it('tries a batch again while the database is unavailable, and loses nothing to a blip', async () => {
    const unavailable = () =>
      Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
    const written: number[] = [];
    let calls = 0;
    const { sink, lines, metrics } = setup((events) => {
      calls += 1;
      if (calls <= 2) return unavailable();
      written.push(...events.map((e) => e.time));
      return Promise.resolve();
    });
    sink.record(event(1));
    sink.record(event(2));
    // No flush: the writer retries on its own, after pauses of 250 ms and 1 s.
    const deadline = Date.now() + 5_000;
    while (written.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(written).toEqual([1, 2]);
    expect(calls).toBe(3);
    expect((await metrics.auditWriteFailures.get()).values[0]?.value ?? 0).toBe(0);
    expect(lines.filter((l) => String(l.msg).startsWith('AUDIT WRITE FAILED'))).toHaveLength(0);
  });

  it('gives a batch up after its retries, and flush() does not wait out their pauses', async () => {
    let calls = 0;
    const { sink, lines, metrics } = setup(() => {
      calls += 1;
      return Promise.reject(Object.assign(new Error('Connection terminated'), {}));
    });
    sink.record(event(1));
    const started = Date.now();
    await sink.flush();
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(calls).toBe(4);
    expect((await metrics.auditWriteFailures.get()).values[0]!.value).toBe(1);
    expect(lines.filter((l) => String(l.msg).startsWith('AUDIT WRITE FAILED'))).toHaveLength(1);
  });

  it('writes events recorded in separate ticks within the delay as one batch', async () => {
    const { sink, batches } = batchingSink({ batchDelayMs: 60_000 });
    sink.record(event(1));
    await new Promise((resolve) => setImmediate(resolve));
    sink.record(event(2));
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(batches).toEqual([]);
    await sink.flush();
    expect(batches).toEqual([[1, 2]]);
  });

  it('writes once the delay is over, without a flush', async () => {
    const { sink, batches } = batchingSink({ batchDelayMs: 10 });
    sink.record(event(1));
    for (let waited = 0; batches.length === 0 && waited < 5_000; waited += 10) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(batches).toEqual([[1]]);
  });

  it('does not wait out the delay on flush() or a full batch', async () => {
    const { sink, batches } = batchingSink({ batchSize: 2, batchDelayMs: 60_000 });
    const started = Date.now();
    sink.record(event(1));
    await sink.flush();
    expect(batches).toEqual([[1]]);
    sink.record(event(2));
    sink.record(event(3));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(batches).toEqual([[1], [2, 3]]);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
