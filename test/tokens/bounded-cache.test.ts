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

  it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])('rejects capacity %s', (capacity) => {
    expect(() => new BoundedCache(capacity)).toThrow(RangeError);
    expect(() => new BoundedCache(capacity)).toThrow('capacity must be a positive integer');
  });
});
