import type { Logger } from 'pino';
import type { Config } from '../config/index.js';
import { MemoryStore } from './memory-store.js';
import type { SharedStore } from './shared-store.js';

export type { CounterSpec, SharedStore, StoreHealth } from './shared-store.js';
export { MemoryStore } from './memory-store.js';
// RedisStore (and ioredis with it) is loaded only when redis.url is set: import it from
// './redis-store.js' directly.
export {
  createCappedMemoryCounter,
  memoryCounterOrderLength,
  memoryCounterSize,
} from './capped-memory-counter.js';

/** The shared store the config asks for: Redis when redis.url is set, memory otherwise. */
export async function createSharedStore(
  config: Config,
  logger: Pick<Logger, 'info' | 'warn' | 'error'>,
  /** Ends the wait for Redis early when aborted (a stop during start-up); the caller closes it. */
  signal?: AbortSignal,
): Promise<SharedStore> {
  const { redis } = config;
  if (redis.url === undefined) {
    return new MemoryStore({ keyPrefix: redis.keyPrefix, maxKeys: config.rateLimit.memoryMaxKeys });
  }
  const { RedisStore } = await import('./redis-store.js');
  const store = new RedisStore({
    url: redis.url,
    keyPrefix: redis.keyPrefix,
    onOutage: redis.onOutage,
    commandTimeoutMs: redis.commandTimeoutMs,
    connectTimeoutMs: redis.connectTimeoutMs,
    maxKeys: config.rateLimit.memoryMaxKeys,
    logger,
  });
  await store.connect(signal);
  return store;
}
