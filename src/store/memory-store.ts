import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import { createCappedMemoryCounter } from './capped-memory-counter.js';
import type { CounterSpec, SharedStore, StoreHealth } from './shared-store.js';

/**
 * The default store: state lives in this process. Right for one instance; with several, each
 * counts on its own (limits multiply) and revocations reach other instances only through the
 * database re-check. Use Redis for more than one instance.
 */
export class MemoryStore implements SharedStore {
  readonly kind = 'memory';
  private readonly handlers = new Map<string, ((message: string) => void)[]>();

  constructor(private readonly options: { keyPrefix: string; maxKeys: number }) {}

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
    return Promise.resolve();
  }
}
