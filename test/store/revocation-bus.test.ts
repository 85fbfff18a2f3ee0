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
