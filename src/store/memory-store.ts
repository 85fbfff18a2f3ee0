import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import { createCappedMemoryCounter } from './capped-memory-counter.js';
import { CreationOrder } from './creation-order.js';
import type { CounterSpec, SharedStore, StoreHealth } from './shared-store.js';

interface OneTimeValue {
  value: string;
  expiresAt: number;
}

/**
 * The default store: state lives in this process. Right for one instance; with several, each
 * counts on its own (limits multiply) and revocations reach other instances only through the
 * database re-check. Use Redis for more than one instance.
 */
export class MemoryStore implements SharedStore {
  readonly kind = 'memory';
  private readonly handlers = new Map<string, ((message: string) => void)[]>();
  /** One-time values with their expiry (ms since the epoch); capped at maxKeys. */
  private readonly once = new Map<string, OneTimeValue>();
  private readonly onceOrder = new CreationOrder(this.once);

  constructor(private readonly options: { keyPrefix: string; maxKeys: number }) {}

  putOnce(key: string, value: string, ttlMs: number): Promise<boolean> {
    const now = Date.now();
    const existing = this.once.get(key);
    if (existing && existing.expiresAt > now) return Promise.resolve(false);
    const entry = { value, expiresAt: now + ttlMs };
    this.once.delete(key);
    this.once.set(key, entry);
    this.onceOrder.push(key, entry);
    // Keys come from sign-ins anyone can start: the oldest go while over the cap, and expired
    // ones at the front go anyway.
    this.onceOrder.dropOldest(
      (oldest) => this.once.size > this.options.maxKeys || oldest.expiresAt <= now,
      (oldestKey) => this.once.delete(oldestKey),
    );
    return Promise.resolve(true);
  }

  take(key: string): Promise<string | null> {
    const entry = this.once.get(key);
    this.once.delete(key);
    return Promise.resolve(entry && entry.expiresAt > Date.now() ? entry.value : null);
  }

  counter(spec: CounterSpec): RateLimiterAbstract {
    return createCappedMemoryCounter({
      keyPrefix: `${this.options.keyPrefix}rl:${spec.name}`,
      points: spec.points,
      durationSeconds: spec.durationSeconds,
      maxKeys: this.options.maxKeys,
    });
  }

  publish(channel: string, message: string): Promise<void> {
    for (const handler of this.handlers.get(channel) ?? []) handler(message);
    return Promise.resolve();
  }

  subscribe(channel: string, handler: (message: string) => void): void {
    const list = this.handlers.get(channel) ?? [];
    list.push(handler);
    this.handlers.set(channel, list);
  }

  onReconnect(): void {
    // Memory never disconnects.
  }

  health(): StoreHealth {
    return 'ok';
  }

  ping(): Promise<void> {
    return Promise.resolve();
  }

  readiness(): Promise<'ok'> {
    return Promise.resolve('ok');
  }

  close(): Promise<void> {
    this.handlers.clear();
    this.once.clear();
    return Promise.resolve();
  }
}
