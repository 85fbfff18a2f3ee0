import { describe, expect, it } from 'vitest';
import { CreationOrder } from '../../src/store/creation-order.js';

/** A Map with its creation order, set and deleted the way the stores do it. */
function tracked() {
  const map = new Map<string, { n: number }>();
  const order = new CreationOrder(map);
  let n = 0;
  return {
    map,
    order,
    set(key: string) {
      const value = { n: n++ };
      map.delete(key);
      map.set(key, value);
      order.push(key, value);
    },
    dropWhile(shouldDrop: (value: { n: number }) => boolean): string[] {
      const dropped: string[] = [];
      order.dropOldest(shouldDrop, (key) => {
        dropped.push(key);
        map.delete(key);
      });
      return dropped;
    },
  };
}

describe('CreationOrder', () => {
  it('drops the oldest entries while asked, and stops at the first one to keep', () => {
    const t = tracked();
    for (const key of ['a', 'b', 'c', 'd']) t.set(key);
    expect(t.dropWhile(() => t.map.size > 2)).toEqual(['a', 'b']);
    expect([...t.map.keys()]).toEqual(['c', 'd']);
    // The predicate sees each value; nothing behind the first kept entry is looked at.
    const seen: number[] = [];
    expect(
      t.dropWhile((value) => {
        seen.push(value.n);
        return false;
      }),
    ).toEqual([]);
    expect(seen).toEqual([2]);
  });

  it('skips entries whose key was deleted or set again since', () => {
    const t = tracked();
    for (const key of ['a', 'b', 'c', 'd']) t.set(key);
    t.map.delete('a'); // taken
    t.set('b'); // set again: now the newest
    // Oldest first: c, d, then b (its new value); the stale a and b entries are passed over.
    expect(t.dropWhile(() => true)).toEqual(['c', 'd', 'b']);
    expect(t.map.size).toBe(0);
    expect(t.order.length).toBe(0);
  });

  it('stays within twice the live keys (at least 2 048) under endless set-and-delete churn', () => {
    const t = tracked();
    let longest = 0;
    for (let i = 0; i < 100_000; i++) {
      t.set(`k${i}`);
      if (i % 10 !== 0) t.map.delete(`k${i}`); // most are taken before anything is dropped
      t.dropWhile(() => t.map.size > 5_000);
      longest = Math.max(longest, t.order.length);
    }
    expect(t.map.size).toBe(5_000);
    expect(longest).toBeLessThanOrEqual(2 * 5_000 + 1);
    // The survivors are the newest 5 000 of those not deleted, still dropped oldest first.
    expect(t.dropWhile(() => t.map.size > 4_999)).toEqual(['k50000']);
  });

  it('keeps the list short for a small map whose keys keep ending on their own', () => {
    const t = tracked();
    let longest = 0;
    for (let i = 0; i < 50_000; i++) {
      t.set(`k${i}`);
      t.map.delete(`k${i - 3}`);
      longest = Math.max(longest, t.order.length);
    }
    expect(longest).toBeLessThanOrEqual(2 * 1_024 + 1);
  });
});
