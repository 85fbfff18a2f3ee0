/*
 * HandoffCodes.holdFor on both shared stores (memory, and Redis when REDIS_URL is set): single
 * use under concurrency, one hold per redemption, and a hold deadline that never moves.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { HandoffCodes } from '../../src/oidc/handoff-codes.js';
import { MemoryStore, type SharedStore } from '../../src/store/index.js';
import { RedisStore } from '../../src/store/redis-store.js';
import { deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';

const closers: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of closers) await c();
});

async function stores(): Promise<[string, SharedStore][]> {
  const list: [string, SharedStore][] = [
    ['memory', new MemoryStore({ keyPrefix: 'r2:', maxKeys: 1000 })],
  ];
  if (redisUrl !== undefined) {
    const prefix = uniquePrefix();
    const store = new RedisStore({
      url: redisUrl,
      keyPrefix: prefix,
      onOutage: 'failClosed',
      commandTimeoutMs: 1000,
      connectTimeoutMs: 2000,
      maxKeys: 1000,
      logger: { info() {}, warn() {}, error() {} } as never,
    });
    await store.connect();
    closers.push(async () => {
      await deletePrefix(redisUrl!, prefix);
      await store.close();
    });
    list.push(['redis', store]);
  }
  return list;
}

const handoff = { userId: 'u', provider: 'p', identityId: 'i', generation: 0 };

describe('HandoffCodes.holdFor on each store', () => {
  it('of concurrent redemptions exactly one wins; a stale holdFor cannot revive a code used since', async () => {
    for (const [name, store] of await stores()) {
      let now = 1_000_000;
      const codes = new HandoffCodes(store, 60_000, () => now);
      const { code, browserSecret } = await codes.issue(handoff);
      const results = await Promise.all(
        Array.from({ length: 8 }, () => codes.redeem(code, browserSecret)),
      );
      const winners = results.filter((r) => r.ok);
      expect(winners, name).toHaveLength(1);
      const w = winners[0]!;
      if (!w.ok) throw new Error('unreachable');
      await w.holdFor(300_000);
      const second = await codes.redeem(code, browserSecret);
      expect(second.ok, name).toBe(true);
      // A stale holdFor of the first redemption, called after the second one took the code:
      // a redemption holds at most once, so the code stays gone.
      await w.holdFor(300_000);
      const third = await codes.redeem(code, browserSecret);
      expect({ name, revived: third.ok }).toEqual({ name, revived: false });
      now += 1;
    }
  });

  it('never holds a code past the deadline of its first hold, however often it is held', async () => {
    for (const [name, store] of await stores()) {
      let now = 1_000_000;
      const codes = new HandoffCodes(store, 60_000, () => now);
      const { code, browserSecret } = await codes.issue(handoff);
      // Held at 0 for 5 minutes, then redeemed and held again every minute: still 5 from 0.
      for (let minute = 0; minute < 5; minute += 1) {
        const r = await codes.redeem(code, browserSecret);
        expect(r.ok, `${name} at +${minute} min`).toBe(true);
        if (r.ok) await r.holdFor(300_000);
        now += 60_000;
      }
      now += 1_000;
      expect(await codes.redeem(code, browserSecret), name).toEqual({
        ok: false,
        reason: 'expired',
      });
    }
  });
});
