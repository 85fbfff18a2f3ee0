/**
 * The keys of a Map in the order their current values were set, so that the oldest entries can be
 * found without iterating the Map.
 *
 * Why not the Map's own order: iteration (`keys().next()`, `for … of`) starts at the front of V8's
 * hash table and walks every slot deleted since the table was last rebuilt, so a stream of inserts
 * and deletes (a spray of new rate-limit keys, sign-in codes taken) makes finding the oldest entry
 * cost more and more: ~54 µs per new key at 100 000 rate-limit counters, 1.5–5.4 µs per one-time
 * value (measured). Here it costs the entries dropped plus the stale ones passed.
 *
 * Each list entry remembers the value it was pushed for; once its key has been deleted or set to
 * another value the entry is stale and skipped. Stale entries are dropped when they outnumber live
 * ones, so the list stays within about twice the Map's size (or 2 × 1 024 for a small Map).
 */
export class CreationOrder<V> {
  #entries: (readonly [string, V])[] = [];
  #head = 0;

  /** `map` is the Map whose keys this tracks; it is only read, the caller sets and deletes. */
  constructor(private readonly map: ReadonlyMap<string, V>) {}

  /** Records that `key` has just been set to `value` in the Map. */
  push(key: string, value: V): void {
    this.#entries.push([key, value]);
    this.#compact();
  }

  /**
   * Goes through the Map's entries from the oldest, calling `drop` for each while `shouldDrop`
   * says so; `drop` must delete the key from the Map. Stops at the first entry to keep.
   */
  dropOldest(shouldDrop: (value: V) => boolean, drop: (key: string, value: V) => void): void {
    while (this.#head < this.#entries.length) {
      const [key, value] = this.#entries[this.#head]!;
      if (this.map.get(key) === value) {
        if (!shouldDrop(value)) break;
        drop(key, value);
      }
      this.#head += 1;
    }
    this.#compact();
  }

  /** Entries in the list, live or stale (tests: it stays bounded). */
  get length(): number {
    return this.#entries.length - this.#head;
  }

  #compact(): void {
    if (this.length > 2 * Math.max(this.map.size, 1_024)) {
      this.#entries = this.#entries
        .slice(this.#head)
        .filter(([key, value]) => this.map.get(key) === value);
      this.#head = 0;
    } else if (this.#head > 1_024 && this.#head * 2 > this.#entries.length) {
      this.#entries = this.#entries.slice(this.#head);
      this.#head = 0;
    }
  }
}
