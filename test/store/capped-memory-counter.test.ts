import { describe, expect, it } from 'vitest';
import { createCappedMemoryCounter, memoryCounterSize } from '../../src/store/index.js';

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
});
