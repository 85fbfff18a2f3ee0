import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { RateLimiterRedis, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { createCappedMemoryCounter } from './capped-memory-counter.js';
import type { CounterSpec, SharedStore, StoreHealth } from './shared-store.js';

/** How often the command connection is checked while it looks connected. */
const HEARTBEAT_MS = 1_000;

export interface RedisStoreOptions {
  url: string;
  keyPrefix: string;
  /** failOpen: counters fall back to capped per-instance memory; failClosed: they reject. */
  onOutage: 'failOpen' | 'failClosed';
  commandTimeoutMs: number;
  connectTimeoutMs: number;
  /** Cap of each fallback memory counter. */
  maxKeys: number;
  logger: Pick<Logger, 'info' | 'warn' | 'error'>;
}

/**
 * Shared state in Redis (ioredis), for several instances behind a load balancer: counters are
 * incremented atomically by rate-limiter-flexible's Lua script, revocations travel over pub/sub.
 *
 * Outages never hang or crash a request: the offline queue is off, so a command sent while the
 * connection is down fails at once, and `commandTimeout` bounds a Redis that stopped answering.
 * ioredis reconnects forever with capped back-off, so the service uses Redis again when it is
 * back, without a restart.
 *
 * A Redis that stops answering without closing the connection (a hung or paused server, a
 * network partition that drops packets) leaves the connection "ready": every command would wait
 * out `commandTimeout`, several per request. A heartbeat PING notices it within a second or so
 * and drops the connection, so commands fail at once (to the fallback, or 503) until a
 * reconnection succeeds — which also marks the end of the outage.
 */
export class RedisStore implements SharedStore {
  readonly kind = 'redis';
  private readonly client: Redis;
  private readonly subscriber: Redis;
  private readonly handlers = new Map<string, ((message: string) => void)[]>();
  private readonly reconnectHandlers: (() => void)[] = [];
  private readonly logger: RedisStoreOptions['logger'];
  private wasReady = false;
  private outage = false;
  private subscriberWasReady = false;
  private closed = false;
  private heartbeat: NodeJS.Timeout | undefined;

  constructor(private readonly options: RedisStoreOptions) {
    this.logger = options.logger;
    const common = {
      connectTimeout: options.connectTimeoutMs,
      // Back off up to 2 s between attempts and never give up: recovery needs no restart.
      retryStrategy: (times: number) => Math.min(times * 100, 2_000),
      lazyConnect: true,
    };
    this.client = new Redis(options.url, {
      ...common,
      enableOfflineQueue: false,
      commandTimeout: options.commandTimeoutMs,
      maxRetriesPerRequest: 0,
    });
    // The subscriber only waits for messages; its SUBSCRIBE may queue until connected and is
    // replayed by ioredis after every reconnection (autoResubscribe).
    this.subscriber = new Redis(options.url, { ...common, enableOfflineQueue: true });

    this.client.on('ready', () => {
      if (this.outage) {
        this.logger.info('redis is reachable again: shared rate limits restored');
      }
      this.outage = false;
      this.wasReady = true;
    });
    this.client.on('error', (error: Error) => this.connectionLost(error));
    this.client.on('close', () => this.connectionLost());
    this.subscriber.on('error', () => {
      // Reported once through the command connection; the subscriber reconnects on its own.
    });
    this.subscriber.on('ready', () => {
      if (this.subscriberWasReady) for (const handler of this.reconnectHandlers) handler();
      this.subscriberWasReady = true;
    });
    this.subscriber.on('message', (channel: string, message: string) => {
      for (const handler of this.handlers.get(channel) ?? []) {
        try {
          handler(message);
        } catch (error) {
          this.logger.error({ err: error, channel }, 'shared store message handler failed');
        }
      }
    });
  }

  /**
   * Connects, waiting at most connectTimeoutMs; an unreachable Redis is an outage, not a crash.
   * An abort of `signal` (a stop during start-up) ends the wait at once; the caller closes the store.
   */
  async connect(signal?: AbortSignal): Promise<void> {
    const attempt = (redis: Redis): Promise<void> =>
      redis.connect().catch((error: unknown) => this.connectionLost(error as Error));
    await Promise.race([
      Promise.all([attempt(this.client), attempt(this.subscriber)]),
      new Promise((resolve) => setTimeout(resolve, this.options.connectTimeoutMs).unref()),
      ...(signal === undefined
        ? []
        : [new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }))]),
    ]);
    if (signal?.aborted) return;
    if (this.client.status !== 'ready') this.connectionLost();
    this.heartbeat = setInterval(() => void this.beat(), HEARTBEAT_MS).unref();
  }

  counter(spec: CounterSpec): RateLimiterAbstract {
    const keyPrefix = `${this.options.keyPrefix}rl:${spec.name}`;
    return new RateLimiterRedis({
      storeClient: this.client,
      keyPrefix,
      points: spec.points,
      duration: spec.durationSeconds,
      // Not connected: fail at once (to the fallback, or to the caller) instead of waiting.
      rejectIfRedisNotReady: true,
      ...(this.options.onOutage === 'failOpen'
        ? {
            insuranceLimiter: createCappedMemoryCounter({
              keyPrefix,
              points: spec.points,
              durationSeconds: spec.durationSeconds,
              maxKeys: this.options.maxKeys,
            }),
          }
        : {}),
    });
  }

  async putOnce(key: string, value: string, ttlMs: number): Promise<boolean> {
    // SET NX PX: stored with its expiry in one command, and never over a live value.
    const result = await this.client.set(this.key(key), value, 'PX', ttlMs, 'NX');
    return result === 'OK';
  }

  async take(key: string): Promise<string | null> {
    // GETDEL (Redis 6.2+) is atomic: two instances redeeming one code cannot both get it.
    return this.client.getdel(this.key(key));
  }

  async publish(channel: string, message: string): Promise<void> {
    await this.client.publish(this.channel(channel), message);
  }

  subscribe(channel: string, handler: (message: string) => void): void {
    const name = this.channel(channel);
    const list = this.handlers.get(name);
    if (list) {
      list.push(handler);
      return;
    }
    this.handlers.set(name, [handler]);
    this.subscriber.subscribe(name).catch((error: unknown) => {
      this.logger.error({ err: error, channel: name }, 'redis subscribe failed');
    });
  }

  onReconnect(handler: () => void): void {
    this.reconnectHandlers.push(handler);
  }

  health(): StoreHealth {
    if (this.client.status === 'ready') return 'ok';
    return this.options.onOutage === 'failOpen' ? 'degraded' : 'down';
  }

  async ping(): Promise<void> {
    await this.client.ping();
  }

  async readiness(): Promise<'ok' | 'degraded'> {
    try {
      await this.ping();
      return 'ok';
    } catch (error) {
      // Decided by the policy, not by the connection status, which lags behind a dead peer.
      this.stalled(error as Error);
      if (this.options.onOutage === 'failOpen') return 'degraded';
      throw error;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.heartbeat);
    const quit = async (redis: Redis): Promise<void> => {
      if (redis.status === 'ready') {
        await redis.quit().catch(() => redis.disconnect());
      } else {
        redis.disconnect();
      }
    };
    await Promise.all([quit(this.client), quit(this.subscriber)]);
  }

  private key(name: string): string {
    return `${this.options.keyPrefix}once:${name}`;
  }

  private channel(name: string): string {
    return `${this.options.keyPrefix}${name}`;
  }

  private async beat(): Promise<void> {
    await Promise.all([this.beatCommands(), this.beatSubscriber()]);
  }

  private async beatCommands(): Promise<void> {
    if (this.closed || this.client.status !== 'ready') return;
    try {
      await this.client.ping();
    } catch (error) {
      this.stalled(error as Error);
    }
  }

  /**
   * The subscriber sends nothing of its own, so a Redis (or a network path) that went silent
   * would go unnoticed on it until TCP gives up, and revocations announced meanwhile would be
   * missed with no reconnection to say so. A PING bounded like a command finds it; dropping the
   * connection makes ioredis reconnect and resubscribe, and the 'ready' that follows runs the
   * reconnection handlers (which forget what may have been missed).
   */
  private async beatSubscriber(): Promise<void> {
    if (this.closed || this.subscriber.status !== 'ready') return;
    let timer: NodeJS.Timeout | undefined;
    const silent = new Promise<'silent'>((resolve) => {
      timer = setTimeout(() => resolve('silent'), this.options.commandTimeoutMs);
    });
    const answer = await Promise.race([
      this.subscriber.ping().then(
        () => 'ok' as const,
        () => 'silent' as const,
      ),
      silent,
    ]);
    clearTimeout(timer);
    if (answer === 'silent' && !this.closed && this.subscriber.status === 'ready') {
      this.subscriber.disconnect(true);
    }
  }

  /**
   * A command failed on a connection that still looks ready: Redis is not answering. Dropping the
   * connection makes the next commands fail at once instead of each waiting `commandTimeout`;
   * ioredis reconnects on its own, and the 'ready' that follows ends the outage.
   */
  private stalled(error: Error): void {
    this.connectionLost(error);
    if (!this.closed && this.client.status === 'ready') this.client.disconnect(true);
  }

  /** Logs an outage once per episode, loudly: limits are now per instance (or refused). */
  private connectionLost(error?: Error): void {
    if (this.closed || this.outage) return;
    this.outage = true;
    const effect =
      this.options.onOutage === 'failOpen'
        ? 'rate limits are now PER INSTANCE in memory (redis.onOutage=failOpen)'
        : 'rate-limited routes answer 503 (redis.onOutage=failClosed)';
    this.logger.error(
      { err: error, wasConnected: this.wasReady },
      `redis is unreachable: ${effect}; reconnecting`,
    );
  }
}
