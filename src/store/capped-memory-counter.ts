import { RateLimiterMemory } from 'rate-limiter-flexible';
import { CreationOrder } from './creation-order.js';

/** The parts of rate-limiter-flexible's MemoryStorage this module relies on. */
interface MemoryStorageRecord {
  timeoutId?: NodeJS.Timeout;
}
interface MemoryStorageLike {
  _storage: Map<string, MemoryStorageRecord>;
  set(key: string, value: number, durationSec: number): unknown;
}

/** The length of each capped counter's creation-order list, for tests (it must stay bounded). */
const orderLength = new WeakMap<RateLimiterMemory, () => number>();

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
  // Creation order, kept by hand (see CreationOrder): finding the oldest through the Map's own
  // order would cost a spray of distinct keys more and more on every request.
  const order = new CreationOrder(map);
  const overflowing = (): boolean => map.size > options.maxKeys;
  const dropCounter = (key: string, record: MemoryStorageRecord): void => {
    clearTimeout(record.timeoutId);
    map.delete(key);
  };
  storage.set = (key, value, durationSec) => {
    const result = originalSet(key, value, durationSec);
    const record = map.get(key);
    if (record !== undefined) order.push(key, record);
    order.dropOldest(overflowing, dropCounter);
    return result;
  };
  orderLength.set(limiter, () => order.length);
  return limiter;
}

/** Number of live counters of a limiter made by createCappedMemoryCounter (tests, metrics). */
export function memoryCounterSize(limiter: RateLimiterMemory): number {
  return (limiter as unknown as { _memoryStorage: MemoryStorageLike })._memoryStorage._storage.size;
}

/** Entries in a capped counter's creation-order list, live or stale (tests: it stays bounded). */
export function memoryCounterOrderLength(limiter: RateLimiterMemory): number {
  return orderLength.get(limiter)?.() ?? 0;
}
