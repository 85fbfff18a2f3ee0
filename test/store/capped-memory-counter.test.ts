import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  createCappedMemoryCounter,
  memoryCounterOrderLength,
  memoryCounterSize,
} from '../../src/store/index.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('createCappedMemoryCounter', () => {
  it('never holds more than maxKeys counters, dropping the oldest first', async () => {
    const counter = createCappedMemoryCounter({
      keyPrefix: 'test',
      points: 2,
      durationSeconds: 60,
      maxKeys: 100,
    });
    for (let i = 0; i < 1_000; i++) await counter.consume(`client-${i}`);
    expect(memoryCounterSize(counter)).toBe(100);
    // The newest keys are still counted...
    await counter.consume('client-999');
    await expect(counter.consume('client-999')).rejects.toMatchObject({ remainingPoints: 0 });
    // ...the oldest were forgotten, which can only let their owner through early.
    await expect(counter.consume('client-0')).resolves.toMatchObject({ consumedPoints: 1 });
  });

  it('counts atomically: a synchronous burst never passes more than the limit', async () => {
    const counter = createCappedMemoryCounter({
      keyPrefix: 'burst',
      points: 5,
      durationSeconds: 60,
      maxKeys: 10,
    });
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, () => counter.consume('one')),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
  });

  it('drops the oldest counter first through a long spray, skipping counters that already ended', async () => {
    vi.useFakeTimers();
    const counter = createCappedMemoryCounter({
      keyPrefix: 'spray',
      points: 3,
      durationSeconds: 10,
      maxKeys: 100,
    });
    // Counters that end on their own before the spray: their list entries are stale.
    for (let i = 0; i < 50; i++) await counter.consume(`early-${i}`);
    vi.advanceTimersByTime(11_000);
    expect(memoryCounterSize(counter)).toBe(0);
    await counter.consume('kept'); // the oldest live counter once the spray starts
    for (let i = 0; i < 20_000; i++) await counter.consume(`sprayed-${i}`);
    expect(memoryCounterSize(counter)).toBe(100);
    // The last 100 created are the ones counted: the newest still has its count...
    await counter.consume('sprayed-19999');
    await counter.consume('sprayed-19999');
    await expect(counter.consume('sprayed-19999')).rejects.toMatchObject({ remainingPoints: 0 });
    // ...while the 101st newest and "kept" were dropped (a fresh window: one point used).
    await expect(counter.consume('sprayed-19899')).resolves.toMatchObject({ consumedPoints: 1 });
    await expect(counter.consume('kept')).resolves.toMatchObject({ consumedPoints: 1 });
    expect(memoryCounterOrderLength(counter)).toBeLessThanOrEqual(2 * 1_024 + 100);
  });

  it('keeps its creation-order list bounded while counters end on their own and nothing overflows', async () => {
    vi.useFakeTimers();
    const counter = createCappedMemoryCounter({
      keyPrefix: 'churn',
      points: 5,
      durationSeconds: 1,
      maxKeys: 100_000,
    });
    let longest = 0;
    for (let round = 0; round < 200; round++) {
      for (let i = 0; i < 100; i++) await counter.consume(`client-${round}-${i}`);
      vi.advanceTimersByTime(1_100);
      longest = Math.max(longest, memoryCounterOrderLength(counter));
    }
    expect(memoryCounterSize(counter)).toBe(0);
    // 20 000 counters were created; the list never held more than the rebuild bound.
    expect(longest).toBeLessThanOrEqual(2 * 1_024 + 1);
  });
});
