import { LRUCache } from 'lru-cache';

/**
 * A size-capped map that forgets the least recently used entry first. Every in-memory cache in
 * Bulwark is bounded: a cache keyed by client input would otherwise be a memory-exhaustion lever.
 *
 * lru-cache underneath (a linked list over preallocated slots): a use and an eviction are O(1).
 * A plain Map re-inserted on use and evicted with `keys().next()` walks every deleted slot left at
 * the front of its table since the last rehash — ~9 µs per eviction at 10 000 entries, paid by
 * every request with a token not yet cached — and keeping one iterator between evictions instead
 * makes V8 retain every superseded table behind it (measured: unbounded growth under hits).
 */
export class BoundedCache<K, V> {
  private readonly entries: LRUCache<NonNullable<K>, NonNullable<V>>;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError('capacity must be a positive integer');
    this.entries = new LRUCache({ max: capacity });
  }

  get size(): number {
    return this.entries.size;
  }

  /** The value, marked as most recently used; undefined when absent. */
  get(key: K): V | undefined {
    return this.entries.get(key as NonNullable<K>);
  }

  /** Stores `value` (undefined is not a value: it removes the key). May evict the oldest. */
  set(key: K, value: V): void {
    this.entries.set(key as NonNullable<K>, value as NonNullable<V>);
  }

  delete(key: K): void {
    this.entries.delete(key as NonNullable<K>);
  }

  clear(): void {
    this.entries.clear();
  }
}
