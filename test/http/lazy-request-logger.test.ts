import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { lazyChildLogger } from '../../src/http/logger.js';

function capture(level = 'info') {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { lines, logger: pino({ level }, stream) };
}

const flushed = () => new Promise((resolve) => setImmediate(resolve));

describe('request loggers (lazy pino children)', () => {
  it('create no pino child for a request that logs nothing enabled', () => {
    const { logger, lines } = capture('warn');
    const child = vi.spyOn(logger, 'child');
    const log = lazyChildLogger(logger, { requestId: 'r1' }, {});
    log.info('not written');
    log.debug({ a: 1 }, 'nor this');
    expect(child).not.toHaveBeenCalled();
    expect(lines).toEqual([]);
    expect(log.level).toBe('warn');
  });

  it('log with the request id bound, as a pino child would, once something is logged', async () => {
    const { logger, lines } = capture('info');
    const log = lazyChildLogger(logger, { requestId: 'r2' }, {});
    log.info({ a: 1 }, 'first');
    log.warn('second');
    const nested = log.child({ step: 'x' });
    nested.error('third');
    await flushed();
    expect(lines.map((l) => [l.requestId, l.msg])).toEqual([
      ['r2', 'first'],
      ['r2', 'second'],
      ['r2', 'third'],
    ]);
    expect(lines[0]).toMatchObject({ a: 1, level: 30 });
    expect(lines[2]).toMatchObject({ step: 'x' });
    expect((log as unknown as pino.Logger).bindings()).toEqual({ requestId: 'r2' });
  });

  it("follow a level set on them, and the parent's level until then", async () => {
    const { logger, lines } = capture('warn');
    const log = lazyChildLogger(logger, { requestId: 'r3' }, {});
    logger.level = 'info';
    log.info('parent lowered');
    log.level = 'error';
    log.warn('dropped');
    log.error('kept');
    await flushed();
    expect(lines.map((l) => l.msg)).toEqual(['parent lowered', 'kept']);
    expect(lines.every((l) => l.requestId === 'r3')).toBe(true);
    expect(logger.level).toBe('info');
  });

  it('give routes with their own log level a real child at once', () => {
    const { logger } = capture('warn');
    const child = vi.spyOn(logger, 'child');
    lazyChildLogger(logger, { requestId: 'r4' }, { level: 'debug' });
    expect(child).toHaveBeenCalledTimes(1);
  });
  // In the app: test/http/logging.test.ts (access lines) and errors.test.ts (error lines) check
  // the request id on lines written through request.log.
});
