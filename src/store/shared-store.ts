import type { RateLimiterAbstract } from 'rate-limiter-flexible';

/** A fixed-window counter policy: `points` per `durationSeconds`, named for its keys. */
export interface CounterSpec {
  /** Short name, part of every key (`general`, `login-account` ...). */
  name: string;
  points: number;
  durationSeconds: number;
}

/** How the shared state is doing: `degraded` means Redis is unreachable and a fallback is in use. */
export type StoreHealth = 'ok' | 'degraded' | 'down';

/**
 * The one home of state that several instances must share: rate-limit counters, one-time values
 * and session revocation messages. Two implementations: in-process memory (one instance) and Redis (many).
 * Nothing above this layer keeps such state in a bare Map, so switching stores changes no caller.
 */
export interface SharedStore {
  readonly kind: 'memory' | 'redis';
  /**
   * An atomic counter (rate-limiter-flexible limiter) stored here. Counting happens in one step in
   * the store (an in-process increment or a Redis Lua script), so parallel requests cannot race
   * past the limit. When Redis fails the limiter falls back or rejects with an Error, per config.
   */
  counter(spec: CounterSpec): RateLimiterAbstract;
  /**
   * Stores `value` under `key` for `ttlMs` unless the key already holds a value; false then.
   * For short-lived one-time values (sign-in hand-off codes) that any instance must be able to
   * redeem.
   */
  putOnce(key: string, value: string, ttlMs: number): Promise<boolean>;
  /**
   * Returns the value under `key` and deletes it in one atomic step, so of two concurrent callers
   * exactly one gets it; null when there is none (never stored, expired or already taken).
   */
  take(key: string): Promise<string | null>;
  /** Sends `message` to every instance subscribed to `channel`, this one included. */
  publish(channel: string, message: string): Promise<void>;
  /** Calls `handler` for each message on `channel`, from any instance. */
  subscribe(channel: string, handler: (message: string) => void): void;
  /**
   * Calls `handler` when the store comes back after an outage: messages sent meanwhile may have
   * been lost, so subscribers resynchronise.
   */
  onReconnect(handler: () => void): void;
  /** Current health, without I/O. */
  health(): StoreHealth;
  /** Round-trips to the store; rejects when it does not answer. */
  ping(): Promise<void>;
  /**
   * For /health/ready: 'ok', or 'degraded' when the store does not answer but a fallback serves
   * (failOpen); rejects when it does not answer and the config says to fail closed.
   */
  readiness(): Promise<'ok' | 'degraded'>;
  close(): Promise<void>;
}
