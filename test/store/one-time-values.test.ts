import { afterAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { MemoryStore, type SharedStore } from '../../src/store/index.js';
import { RedisStore } from '../../src/store/redis-store.js';
import { deletePrefix, redisUrl, requireRedis, uniquePrefix } from '../helpers/redis.js';

/* putOnce / take: the one-time values (sign-in hand-off codes) every instance must see. */

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function contract(name: string, make: () => Promise<SharedStore>): void {
  describe(name, () => {
    let store: SharedStore;
    afterAll(async () => {
      await store?.close();
    });

    it('hands a value out once, atomically', async () => {
      store = await make();
      expect(await store.putOnce('a', 'value-a', 10_000)).toBe(true);
      const takes = await Promise.all([store.take('a'), store.take('a'), store.take('a')]);
      expect(takes.sort()).toEqual([null, null, 'value-a']);
      expect(await store.take('never-stored')).toBeNull();
    });

    it('never overwrites a live value', async () => {
      expect(await store.putOnce('b', 'first', 10_000)).toBe(true);
      expect(await store.putOnce('b', 'second', 10_000)).toBe(false);
      expect(await store.take('b')).toBe('first');
      // Once taken, the key is free again.
      expect(await store.putOnce('b', 'third', 10_000)).toBe(true);
      expect(await store.take('b')).toBe('third');
    });

    it('forgets a value after its time to live', async () => {
      expect(await store.putOnce('c', 'short', 30)).toBe(true);
      await sleep(120);
      expect(await store.take('c')).toBeNull();
      expect(await store.putOnce('c', 'again', 10_000)).toBe(true);
    });
  });
}

contract('MemoryStore', () =>
  Promise.resolve(new MemoryStore({ keyPrefix: 'test:', maxKeys: 1_000 })),
);

describe('MemoryStore cap', () => {
  it('keeps at most maxKeys one-time values, dropping the oldest', async () => {
    const store = new MemoryStore({ keyPrefix: 'test:', maxKeys: 3 });
    for (const key of ['k1', 'k2', 'k3', 'k4', 'k5']) {
      expect(await store.putOnce(key, key, 10_000)).toBe(true);
    }
    expect(await store.take('k1')).toBeNull();
    expect(await store.take('k2')).toBeNull();
    expect(await Promise.all(['k3', 'k4', 'k5'].map((k) => store.take(k)))).toEqual([
      'k3',
      'k4',
      'k5',
    ]);
    await store.close();
  });
});

const url = redisUrl;
if (url) {
  const prefix = uniquePrefix();
  contract('RedisStore', async () => {
    const store = new RedisStore({
      url: await requireRedis(url),
      keyPrefix: prefix,
      onOutage: 'failClosed',
      commandTimeoutMs: 2_000,
      connectTimeoutMs: 2_000,
      maxKeys: 1_000,
      logger: pino({ level: 'silent' }),
    });
    await store.connect();
    return store;
  });
  afterAll(async () => {
    await deletePrefix(url, prefix);
  });
} else {
  describe.skip('RedisStore (REDIS_URL unset)', () => undefined);
}
