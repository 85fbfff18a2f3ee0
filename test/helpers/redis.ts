import { randomBytes, randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { Redis } from 'ioredis';

/*
 * Tests that need Redis read REDIS_URL. Unset: they skip (SKIP_REASON says why). Set but
 * unreachable: requireRedis() rejects and the test FAILS, so a broken Redis cannot pass as green.
 */

/** The Redis under test, or undefined when REDIS_URL is unset. */
export const redisUrl: string | undefined = process.env.REDIS_URL || undefined;

export const REDIS_SKIP_REASON = 'REDIS_URL is unset: Redis tests skipped (CI sets it)';

/** A key prefix no other test uses. */
export function uniquePrefix(): string {
  return `bwtest:${randomBytes(6).toString('hex')}:`;
}

/** Pings REDIS_URL; rejects with a clear message when it is set but unreachable. */
export async function requireRedis(url = redisUrl): Promise<string> {
  if (!url) throw new Error(REDIS_SKIP_REASON);
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 3_000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.ping();
  } catch (error) {
    throw new Error(`REDIS_URL is set but Redis is unreachable; unset it to skip Redis tests`, {
      cause: error,
    });
  } finally {
    client.disconnect();
  }
  return url;
}

/** Deletes every key under `prefix` (test cleanup). */
export async function deletePrefix(url: string, prefix: string): Promise<void> {
  const client = new Redis(url, { maxRetriesPerRequest: 0 });
  client.on('error', () => undefined);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await client.del(...keys);
    } while (cursor !== '0');
  } finally {
    client.disconnect();
  }
}

/** Counts keys under `prefix`. */
export async function countKeys(url: string, prefix: string): Promise<number> {
  const client = new Redis(url, { maxRetriesPerRequest: 0 });
  client.on('error', () => undefined);
  try {
    return (await client.keys(`${prefix}*`)).length;
  } finally {
    client.disconnect();
  }
}

/** A free loopback TCP port. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address
          ? resolve(address.port)
          : reject(new Error('no port')),
      );
    });
  });
}

/** Whether a loopback listener can take `port` now (it is let go at once). */
function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A free loopback port below the kernel's ephemeral range, for a server that a test stops and
 * starts again on the same port. A port from freePort() is one that every listen(0) and every
 * outgoing connection of the machine draws from: while the server is down, another test file's
 * listen(0) can be given it, and the restart then fails. Nothing in the suite listens on a fixed
 * port, so a port below the range stays free while the server is down.
 */
export async function portBelowEphemeralRange(): Promise<number> {
  let low = 32_768; // Linux's default; the actual range is read where the system shows it
  try {
    const [first] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
      .trim()
      .split(/\s+/);
    if (Number(first) > 0) low = Number(first);
  } catch {
    // Not Linux: keep the default.
  }
  if (low <= 20_000) return freePort();
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + randomInt(low - 20_000);
    if (await canListen(port)) return port;
  }
  throw new Error(`no free loopback port between 20000 and ${low}`);
}

/** A throwaway redis-server of the test's own on a loopback port; stop() kills it. */
export class OwnRedis {
  private child: ChildProcess | undefined;

  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        await requireRedis(this.url);
        return;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /** Pauses the server (SIGSTOP): connections stay open and nothing is answered, like a hang. */
  freeze(): void {
    this.child?.kill('SIGSTOP');
  }

  /** Lets a frozen server run again (SIGCONT). */
  resume(): void {
    this.child?.kill('SIGCONT');
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
}

/**
 * A "Redis" on loopback that accepts connections and never answers: a start-up that connects to
 * it waits there (up to redis.connectTimeoutMs), a deterministic point inside start-up for tests
 * of what happens meanwhile. `reached` resolves at the first connection; `release` drops every
 * connection and stops listening (a waiting start-up then goes on, Redis counted as down).
 */
export async function silentRedis(): Promise<{
  url: string;
  sockets: readonly Socket[];
  reached: Promise<void>;
  release: () => void;
}> {
  const sockets: Socket[] = [];
  let connected!: () => void;
  const reached = new Promise<void>((resolve) => (connected = resolve));
  const server = createServer((socket) => {
    sockets.push(socket);
    // Reads what it is sent (and drops it), as a server that is slow to answer still does: so
    // a client's FIN is seen and the connection closes, when the client ends it.
    socket.resume();
    connected();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `redis://127.0.0.1:${(server.address() as AddressInfo).port}`,
    sockets,
    reached,
    release: () => {
      server.close();
      for (const socket of sockets) socket.destroy();
    },
  };
}
