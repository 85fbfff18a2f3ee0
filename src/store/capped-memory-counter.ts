import { RateLimiterMemory } from 'rate-limiter-flexible';

/** The parts of rate-limiter-flexible's MemoryStorage this module relies on. */
interface MemoryStorageRecord {
  timeoutId?: NodeJS.Timeout;
}
interface MemoryStorageLike {
  _storage: Map<string, MemoryStorageRecord>;
  set(key: string, value: number, durationSec: number): unknown;
}

/**
 * A RateLimiterMemory whose counters are capped at `maxKeys`, dropping the oldest first.
 *
 * Why: RateLimiterMemory keeps one record per key until its window ends, and keys come from client
 * input (addresses, emails); a spray of distinct keys would grow memory without bound. The library
 * has no cap, so we wrap its storage's `set` (the only place records are created). Dropping an old
 * counter can only let its owner through early, never lock anyone out. A test pins this behaviour,
 * so a library change to these internals fails loudly instead of silently removing the cap.
 */
export function createCappedMemoryCounter(options: {
  keyPrefix: string;
  points: number;
  durationSeconds: number;
  maxKeys: number;
}): RateLimiterMemory {
  const limiter = new RateLimiterMemory({
    keyPrefix: options.keyPrefix,
    points: options.points,
    duration: options.durationSeconds,
  });
  const storage = (limiter as unknown as { _memoryStorage: MemoryStorageLike })._memoryStorage;
  if (!(storage._storage instanceof Map) || typeof storage.set !== 'function') {
    throw new Error('rate-limiter-flexible memory storage changed shape: review the size cap');
  }
  const map = storage._storage;
  const originalSet = storage.set.bind(storage);
  storage.set = (key, value, durationSec) => {
    const result = originalSet(key, value, durationSec);
    while (map.size > options.maxKeys) {
      const oldest = map.entries().next();
      if (oldest.done) break;
      clearTimeout(oldest.value[1].timeoutId);
      map.delete(oldest.value[0]);
    }
    return result;
  };
  return limiter;
}

/** Number of live counters of a limiter made by createCappedMemoryCounter (tests, metrics). */
export function memoryCounterSize(limiter: RateLimiterMemory): number {
  return (limiter as unknown as { _memoryStorage: MemoryStorageLike })._memoryStorage._storage.size;
}
