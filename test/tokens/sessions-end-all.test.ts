/*
 * Sessions.endAll and the user's session generation (users.session_generation): every end of all
 * sessions made because whoever is signed in may not be the owner moves it on, before the
 * sessions are ended, so a provider sign-in's hand-off code issued under the old one starts no
 * session (src/oidc/code-exchange.ts). A role change and MFA turned on leave it, by saying so
 * (signInsInFlight: 'keep'): the exchange makes afresh what those sessions ended for. No reason
 * keeps it by itself.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { SessionsRepository, UsersRepository } from '../../src/db/index.js';
import type { SecurityEvents } from '../../src/security-events.js';
import { SessionState } from '../../src/tokens/session-state.js';
import { Sessions, type SessionEndReason } from '../../src/tokens/sessions.js';
import { createMigratedTestDb, dialectUnderTest, type TestDb } from '../helpers/db.js';
import { sessionRow, userRow } from '../db/rows.js';

// Every reason endAll is called with; the last two are the ones whose callers keep sign-ins.
const ADVANCING: SessionEndReason[] = [
  'logout_all',
  'password_changed',
  'password_reset',
  'email_changed',
  'mfa_reset',
  'user_disabled',
  'user_deleted',
  'revoked',
  'mfa_enabled',
];
const KEEPING: SessionEndReason[] = ['revoked', 'mfa_enabled'];

describe(`Sessions.endAll and the session generation on ${dialectUnderTest}`, () => {
  let t: TestDb;
  let users: UsersRepository;
  let repo: SessionsRepository;
  let sessions: Sessions;

  beforeAll(async () => {
    t = await createMigratedTestDb();
    users = new UsersRepository(t.db.kysely, t.db.dialect);
    repo = new SessionsRepository(t.db.kysely);
    const events = { emit() {} } as unknown as SecurityEvents;
    sessions = new Sessions(repo, new SessionState(repo), events, { absoluteTtlMs: 3_600_000 });
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  async function generation(userId: string): Promise<number | undefined> {
    return (await users.findById(userId))?.session_generation;
  }

  it('starts at 0 and moves on by one per advance, for that user only', async () => {
    const user = await users.insert(userRow());
    const other = await users.insert(userRow());
    expect(user.session_generation).toBe(0);
    await repo.advanceGeneration(user.id);
    await repo.advanceGeneration(user.id);
    expect(await generation(user.id)).toBe(2);
    expect(await generation(other.id)).toBe(0);
  });

  it.each(ADVANCING)('%s moves it on, before the sessions end', async (reason) => {
    const user = await users.insert(userRow());
    const open = await repo.create(sessionRow(user.id));
    const order: string[] = [];
    const advance = vi.spyOn(repo, 'advanceGeneration');
    advance.mockImplementationOnce(async (userId) => {
      // Ended after the advance is committed: the session is still open here.
      expect((await repo.findById(open.id))?.ended_at).toBeNull();
      order.push('advance');
      return SessionsRepository.prototype.advanceGeneration.call(repo, userId);
    });
    const endOpen = vi.spyOn(repo, 'endAllForUser');
    endOpen.mockImplementationOnce(async (...args) => {
      order.push('end');
      return SessionsRepository.prototype.endAllForUser.apply(repo, args);
    });
    expect(await sessions.endAll(user.id, reason, {})).toEqual([open.id]);
    expect(order).toEqual(['advance', 'end']);
    expect(await generation(user.id)).toBe(1);
  });

  it.each(KEEPING)(
    "%s with signInsInFlight: 'keep' leaves it (the exchange makes the role and factor afresh)",
    async (reason) => {
      const user = await users.insert(userRow());
      const open = await repo.create(sessionRow(user.id));
      expect(await sessions.endAll(user.id, reason, {}, { signInsInFlight: 'keep' })).toEqual([
        open.id,
      ]);
      expect(await generation(user.id)).toBe(0);
    },
  );

  it('keeps the session named by exceptSessionId open, and moves the generation on', async () => {
    const user = await users.insert(userRow());
    const mine = await repo.create(sessionRow(user.id));
    const other = await repo.create(sessionRow(user.id));
    expect(
      await sessions.endAll(user.id, 'password_changed', {}, { exceptSessionId: mine.id }),
    ).toEqual([other.id]);
    expect((await repo.findById(mine.id))?.ended_at).toBeNull();
    expect(await generation(user.id)).toBe(1);
  });

  it('moves it on with no session open too (a reset of an account signed in nowhere)', async () => {
    const user = await users.insert(userRow());
    expect(await sessions.endAll(user.id, 'password_reset', {})).toEqual([]);
    expect(await generation(user.id)).toBe(1);
  });
});
