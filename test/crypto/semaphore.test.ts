import { describe, expect, it } from 'vitest';
import { Semaphore, SemaphoreFullError } from '../../src/crypto/semaphore.js';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('Semaphore', () => {
  it('refuses a non-positive or fractional size', () => {
    expect(() => new Semaphore(0)).toThrow(RangeError);
    expect(() => new Semaphore(1.5)).toThrow(RangeError);
  });

  it('admits at most max tasks and runs the rest in arrival order', async () => {
    const sem = new Semaphore(2);
    const gates = Array.from({ length: 5 }, () => deferred());
    const started: number[] = [];
    const runs = gates.map((gate, i) =>
      sem.run(async () => {
        started.push(i);
        await gate.promise;
      }),
    );
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual([0, 1]);
    expect({ running: sem.running, queued: sem.queued }).toEqual({ running: 2, queued: 3 });

    gates[1]!.resolve();
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual([0, 1, 2]);

    for (const gate of gates) gate.resolve();
    await Promise.all(runs);
    expect(started).toEqual([0, 1, 2, 3, 4]);
    expect({ running: sem.running, queued: sem.queued }).toEqual({ running: 0, queued: 0 });
  });

  it('frees the slot when the task rejects', async () => {
    const sem = new Semaphore(1);
    await expect(sem.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(sem.running).toBe(0);
    await expect(sem.run(() => Promise.resolve(42))).resolves.toBe(42);
  });

  it('ignores a second release of the same slot', async () => {
    const sem = new Semaphore(1);
    const release = await sem.acquire();
    const waiting = sem.acquire();
    release();
    release();
    const second = await waiting;
    expect(sem.running).toBe(1);
    const third = sem.acquire();
    expect(sem.queued).toBe(1);
    second();
    (await third)();
    expect({ running: sem.running, queued: sem.queued }).toEqual({ running: 0, queued: 0 });
  });

  it('keeps its queue bounded in memory over many waiters', async () => {
    const sem = new Semaphore(1);
    const runs = Array.from({ length: 5000 }, (_, i) => sem.run(() => Promise.resolve(i)));
    const results = await Promise.all(runs);
    expect(results[4999]).toBe(4999);
    expect(sem.queued).toBe(0);
  });

  it('refuses a waiter beyond maxQueued with SemaphoreFullError, and takes one again once there is room', async () => {
    const sem = new Semaphore(1, 2);
    const release = await sem.acquire();
    const waiting = [sem.acquire(), sem.acquire()];
    await expect(sem.acquire()).rejects.toBeInstanceOf(SemaphoreFullError);
    expect({ running: sem.running, queued: sem.queued }).toEqual({ running: 1, queued: 2 });
    release();
    (await waiting[0]!)();
    const third = sem.acquire();
    expect(sem.queued).toBe(1);
    (await waiting[1]!)();
    (await third)();
    expect({ running: sem.running, queued: sem.queued }).toEqual({ running: 0, queued: 0 });
  });

  it('with maxQueued 0 refuses whenever every slot is taken', async () => {
    const sem = new Semaphore(1, 0);
    const release = await sem.acquire();
    await expect(sem.run(() => Promise.resolve(1))).rejects.toBeInstanceOf(SemaphoreFullError);
    release();
    await expect(sem.run(() => Promise.resolve(1))).resolves.toBe(1);
  });

  it.each([-1, 1.5, Number.NaN])('refuses maxQueued %s', (maxQueued) => {
    expect(() => new Semaphore(1, maxQueued)).toThrow(RangeError);
  });
});
