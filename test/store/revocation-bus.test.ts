import { randomUUID } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import type { SessionsRepository } from '../../src/db/index.js';
import { MemoryStore, type SharedStore } from '../../src/store/index.js';
import { RevocationBus } from '../../src/tokens/revocation-bus.js';
import { SessionState } from '../../src/tokens/session-state.js';

/** A repository where every session is active, counting its reads. */
function activeRepo(): SessionsRepository & { reads: number } {
  const repo = {
    reads: 0,
    findById(id: string) {
      repo.reads++;
      return Promise.resolve({ id, ended_at: null, expires_at: Date.now() + 60_000 });
    },
  };
  return repo as unknown as SessionsRepository & { reads: number };
}

const quiet = { warn: vi.fn(), info: vi.fn() };

/**
 * A repository whose reads answer "active" (the row as it was when read) only when `release()`
 * is called: a database read still in flight while the session ends elsewhere.
 */
function slowRepo(): SessionsRepository & { release: () => void; reads: number } {
  const waiting: (() => void)[] = [];
  const repo = {
    reads: 0,
    release: () => {
      for (const resolve of waiting.splice(0)) resolve();
    },
    findById(id: string) {
      repo.reads++;
      return new Promise((resolve) => {
        waiting.push(() => resolve({ id, ended_at: null, expires_at: Date.now() + 60_000 }));
      });
    },
  };
  return repo as unknown as SessionsRepository & { release: () => void; reads: number };
}

describe('RevocationBus', () => {
  it('marks announced sessions ended on every subscriber', async () => {
    const store = new MemoryStore({ keyPrefix: 't:', maxKeys: 100 });
    const local = new SessionState(activeRepo());
    const remote = new SessionState(activeRepo());
    const bus = new RevocationBus(store, local, quiet);
    new RevocationBus(store, remote, quiet);
    const id = randomUUID();
    expect(await remote.isActive(id)).toBe(true);
    bus.publish([id]);
    expect(await remote.isActive(id)).toBe(false);
  });

  it('an announcement that arrives while the database read is in flight is not undone by it', async () => {
    // Instance B reads a session from the database; the row it gets predates the logout on
    // instance A, whose announcement reaches B before the read returns. B must not cache the
    // stale "active" for activeTtlMs (30 s): the logout must hold on B at once.
    const store = new MemoryStore({ keyPrefix: 't:', maxKeys: 100 });
    const repo = slowRepo();
    const remote = new SessionState(repo);
    const bus = new RevocationBus(store, new SessionState(activeRepo()), quiet);
    new RevocationBus(store, remote, quiet);
    const id = randomUUID();

    const inFlight = remote.isActive(id);
    bus.publish([id]);
    repo.release();

    expect(await inFlight).toBe(false);
    expect(remote.knownState(id)).toBe(false);
    expect(await remote.isActive(id)).toBe(false);
  });

  it('a read in flight across a reconnection is not cached: the next check asks again', async () => {
    let reconnect: () => void = () => undefined;
    const store: SharedStore = Object.assign(new MemoryStore({ keyPrefix: 't:', maxKeys: 100 }), {
      onReconnect: (handler: () => void) => (reconnect = handler),
    });
    const repo = slowRepo();
    const state = new SessionState(repo);
    new RevocationBus(store, state, quiet);
    const id = randomUUID();

    const inFlight = state.isActive(id);
    reconnect();
    repo.release();
    expect(await inFlight).toBe(true);
    // Announcements may have been lost before the reconnection, and the read may predate them.
    expect(state.knownState(id)).toBeUndefined();

    // Control: a read that no reconnection overlaps is cached.
    const again = state.isActive(id);
    repo.release();
    expect(await again).toBe(true);
    expect(state.knownState(id)).toBe(true);
    expect(repo.reads).toBe(2);
  });

  it('ignores hostile messages: not JSON, not a list, not session ids, too many', async () => {
    const store = new MemoryStore({ keyPrefix: 't:', maxKeys: 100 });
    const state = new SessionState(activeRepo());
    const warn = vi.fn();
    new RevocationBus(store, state, { warn, info: vi.fn() });
    const id = randomUUID();
    await state.isActive(id);
    for (const message of [
      'not json',
      '{"__proto__":{"x":1}}',
      JSON.stringify([`${id}' or 1=1`]),
      JSON.stringify(Array.from({ length: 501 }, () => id)),
    ]) {
      await store.publish('sessions:ended', message);
    }
    expect(await state.isActive(id)).toBe(true);
    expect(warn).toHaveBeenCalled();
  });

  // Whoever can write to Redis could publish one message of hundreds of megabytes: parsing it
  // would hold every instance's event loop. No valid announcement is longer than a full batch.
  it('ignores a message longer than a full batch of ids, without parsing it', async () => {
    const store = new MemoryStore({ keyPrefix: 't:', maxKeys: 100 });
    const state = new SessionState(activeRepo());
    const warn = vi.fn();
    new RevocationBus(store, state, { warn, info: vi.fn() });
    const id = randomUUID();
    await state.isActive(id);
    const full = JSON.stringify(Array.from({ length: 500 }, () => randomUUID()));
    // One id, padded with whitespace (valid JSON) past what 500 ids take.
    const padded = `[${' '.repeat(full.length)}${JSON.stringify(id)}]`;
    const parse = vi.spyOn(JSON, 'parse');
    try {
      await store.publish('sessions:ended', padded);
      expect(parse).not.toHaveBeenCalledWith(padded);
    } finally {
      parse.mockRestore();
    }
    expect(state.knownState(id)).toBe(true);
    expect(warn).toHaveBeenCalledWith('ignored a malformed session revocation message');
    // A full batch still goes through.
    await store.publish('sessions:ended', full);
    for (const ended of JSON.parse(full) as string[]) expect(state.knownState(ended)).toBe(false);
  });

  it('re-checks every session against the database after the store reconnects', async () => {
    let reconnect: () => void = () => undefined;
    const store: SharedStore = Object.assign(new MemoryStore({ keyPrefix: 't:', maxKeys: 100 }), {
      onReconnect: (handler: () => void) => (reconnect = handler),
    });
    const repo = activeRepo();
    const state = new SessionState(repo);
    new RevocationBus(store, state, quiet);
    const id = randomUUID();
    await state.isActive(id);
    await state.isActive(id);
    expect(repo.reads).toBe(1);
    reconnect();
    await state.isActive(id);
    expect(repo.reads).toBe(2);
  });

  it('logs, never throws, when the announcement cannot be sent', async () => {
    const store = new MemoryStore({ keyPrefix: 't:', maxKeys: 100 });
    store.publish = () => Promise.reject(new Error('Connection is closed.'));
    const warn = vi.fn();
    const bus = new RevocationBus(store, new SessionState(activeRepo()), { warn, info: vi.fn() });
    expect(() => bus.publish([randomUUID()])).not.toThrow();
    await vi.waitFor(() => expect(warn).toHaveBeenCalled());
  });
});
