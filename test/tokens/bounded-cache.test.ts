import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { BoundedCache } from '../../src/tokens/bounded-cache.js';

function filled(capacity: number, keys: string[]): BoundedCache<string, number> {
  const cache = new BoundedCache<string, number>(capacity);
  keys.forEach((key, index) => cache.set(key, index));
  return cache;
}

function present(cache: BoundedCache<string, number>, keys: string[]): string[] {
  return keys.filter((key) => cache.get(key) !== undefined);
}

describe('BoundedCache', () => {
  it('stores and returns values, and forgets deleted and cleared ones', () => {
    const cache = filled(3, ['a', 'b']);
    expect(cache.get('a')).toBe(0);
    expect(cache.get('b')).toBe(1);
    expect(cache.get('missing')).toBeUndefined();
    expect(cache.size).toBe(2);
    cache.delete('a');
    expect(cache.get('a')).toBeUndefined();
    expect(cache.size).toBe(1);
    cache.delete('never-there');
    expect(cache.size).toBe(1);
    cache.clear();
    expect(cache.size).toBe(0);
    expect(cache.get('b')).toBeUndefined();
  });

  it('evicts the least recently inserted entry when full', () => {
    const cache = filled(3, ['a', 'b', 'c', 'd']);
    expect(cache.size).toBe(3);
    expect(cache.get('a')).toBeUndefined();
    expect(present(cache, ['b', 'c', 'd'])).toEqual(['b', 'c', 'd']);
  });

  it('never holds more than its capacity, whatever is inserted', () => {
    const cache = new BoundedCache<string, number>(100);
    let largest = 0;
    for (let i = 0; i < 10_000; i += 1) {
      cache.set(`key-${i}`, i);
      largest = Math.max(largest, cache.size);
    }
    expect(largest).toBe(100);
    expect(cache.size).toBe(100);
    // The survivors are exactly the 100 newest.
    expect(cache.get('key-9899')).toBeUndefined();
    expect(cache.get('key-9900')).toBe(9900);
    expect(cache.get('key-9999')).toBe(9999);
  });

  it('treats a get as a use: the entry read survives and the next oldest goes', () => {
    const cache = filled(3, ['a', 'b', 'c']);
    expect(cache.get('a')).toBe(0);
    cache.set('d', 3);
    expect(cache.get('b')).toBeUndefined();
    expect(present(cache, ['a', 'c', 'd'])).toEqual(['a', 'c', 'd']);
  });

  it('does not let a miss change recency', () => {
    const cache = filled(2, ['a', 'b']);
    expect(cache.get('zzz')).toBeUndefined();
    cache.set('c', 2);
    expect(cache.get('a')).toBeUndefined();
    expect(cache.size).toBe(2);
  });

  it('treats overwriting a key as a use, without growing', () => {
    const cache = filled(3, ['a', 'b', 'c']);
    cache.set('a', 10);
    expect(cache.size).toBe(3);
    cache.set('d', 3);
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')).toBe(10);
    expect(present(cache, ['a', 'c', 'd'])).toEqual(['a', 'c', 'd']);
  });

  it('works at capacity 1', () => {
    const cache = filled(1, ['a']);
    cache.set('b', 1);
    expect(cache.size).toBe(1);
    expect(cache.get('a')).toBeUndefined();
    expect(cache.get('b')).toBe(1);
  });

  it('keeps falsy values distinct from a miss', () => {
    const cache = new BoundedCache<string, number | boolean | string | null>(4);
    cache.set('zero', 0);
    cache.set('false', false);
    cache.set('empty', '');
    cache.set('null', null);
    expect(cache.get('zero')).toBe(0);
    expect(cache.get('false')).toBe(false);
    expect(cache.get('empty')).toBe('');
    expect(cache.get('null')).toBeNull();
  });

  it('keys by identity for object keys, and takes keys such as __proto__ literally', () => {
    const cache = new BoundedCache<unknown, string>(4);
    const key = { id: 1 };
    cache.set(key, 'object');
    cache.set('__proto__', 'proto');
    cache.set('constructor', 'ctor');
    expect(cache.get(key)).toBe('object');
    expect(cache.get({ id: 1 })).toBeUndefined();
    expect(cache.get('__proto__')).toBe('proto');
    expect(cache.get('constructor')).toBe('ctor');
    expect(cache.get('toString')).toBeUndefined();
  });

  it('evicts exactly like a reference LRU through many uses, deletes, clears and table rehashes', () => {
    // A seeded generator: the same sequence on every run, long enough for the map's table to be
    // rehashed many times while the eviction position is kept between calls.
    let seed = 0x2545f491;
    const random = (n: number): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    for (const capacity of [1, 2, 7, 64]) {
      const cache = new BoundedCache<string, number>(capacity);
      let model: string[] = []; // least recently used first
      for (let step = 0; step < 20_000; step += 1) {
        const key = `k${random(capacity * 3)}`;
        const action = random(100);
        if (action < 45) {
          cache.set(key, step);
          model = [...model.filter((k) => k !== key), key];
          if (model.length > capacity) model.shift();
        } else if (action < 85) {
          const hit = cache.get(key) !== undefined;
          expect(hit).toBe(model.includes(key));
          if (hit) model = [...model.filter((k) => k !== key), key];
        } else if (action < 99) {
          cache.delete(key);
          model = model.filter((k) => k !== key);
        } else {
          cache.clear();
          model = [];
        }
        expect(cache.size).toBe(model.length);
      }
      // What is left, and its order: once the cache is full, each new key evicts the oldest
      // survivor (checked without reading the ones still expected, which would reorder them).
      const survivors = [...model];
      for (let i = survivors.length; i < capacity; i += 1) cache.set(`filler-${i}`, i);
      for (let i = 0; i < survivors.length; i += 1) {
        cache.set(`fresh-${i}`, i);
        expect(cache.size).toBe(capacity);
        expect(cache.get(survivors[i]!)).toBeUndefined();
      }
    }
  });

  it('keeps its memory bounded under a long run of uses after evictions', () => {
    // A cache that once evicted and then only serves hits (one token used by every request).
    // An earlier design kept a Map iterator between evictions, and V8 then retained every
    // superseded hash table behind it: ~44 MB per million hits here.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const cache = new BoundedCache<string, string>(100);
    for (let i = 0; i <= 100; i += 1) cache.set(`k${i}`, `${'x'.repeat(1_000)}${i}`);
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let j = 0; j < 1_000_000; j += 1) cache.get(`k${1 + (j % 100)}`);
    gc();
    const grownMb = (process.memoryUsage().heapUsed - before) / 1_048_576;
    expect(grownMb).toBeLessThan(8);
    expect(cache.size).toBe(100);
  });

  it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])('rejects capacity %s', (capacity) => {
    expect(() => new BoundedCache(capacity)).toThrow(RangeError);
    expect(() => new BoundedCache(capacity)).toThrow('capacity must be a positive integer');
  });
});
