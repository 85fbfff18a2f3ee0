import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/crypto/index.js';
import { Housekeeping, UsersRepository, type PruneResult } from '../../src/db/index.js';
import { createMigratedTestDb, dialectUnderTest, type TestDb } from '../helpers/db.js';
import { T0, userRow } from './rows.js';

const DAY = 86_400_000;
const RETENTION = 30 * DAY;

describe(`Housekeeping on ${dialectUnderTest}`, () => {
  let t: TestDb;
  let userId: string;

  beforeAll(async () => {
    t = await createMigratedTestDb();
    userId = (await new UsersRepository(t.db.kysely, t.db.dialect).insert(userRow())).id;
  });
  afterAll(async () => {
    await t?.cleanup();
  });
  // Housekeeping deletes across the whole table: each test starts from an empty one.
  beforeEach(async () => {
    await t.db.kysely.deleteFrom('sessions').execute();
    await t.db.kysely.deleteFrom('email_tokens').execute();
    await t.db.kysely.deleteFrom('signing_keys').execute();
  });

  /** A session with `refreshTokens` rotated refresh tokens; returns its id. */
  async function session(
    times: { expiresAt: number; endedAt?: number },
    refreshTokens = 2,
  ): Promise<string> {
    const id = randomUUID();
    await t.db.kysely
      .insertInto('sessions')
      .values({
        id,
        user_id: userId,
        created_at: T0,
        last_used_at: T0,
        expires_at: times.expiresAt,
        ended_at: times.endedAt ?? null,
        end_reason: times.endedAt === undefined ? null : 'logout',
        ip: null,
        user_agent: null,
        amr: 'pwd',
      })
      .execute();
    for (let i = 0; i < refreshTokens; i += 1) {
      await t.db.kysely
        .insertInto('refresh_tokens')
        .values({
          id: randomUUID(),
          session_id: id,
          token_hash: sha256Hex(`${id}-${i}`),
          created_at: T0,
          expires_at: times.expiresAt,
          used_at: i < refreshTokens - 1 ? T0 : null,
          replaced_by: null,
        })
        .execute();
    }
    return id;
  }

  async function emailToken(expiresAt: number): Promise<string> {
    const id = randomUUID();
    await t.db.kysely
      .insertInto('email_tokens')
      .values({
        id,
        user_id: userId,
        purpose: 'password_reset',
        token_hash: sha256Hex(id),
        email: 'someone@example.com',
        created_at: T0,
        expires_at: expiresAt,
        used_at: null,
      })
      .execute();
    return id;
  }

  async function remaining(ids: string[]): Promise<{ sessions: string[]; refreshTokens: number }> {
    const sessions = await t.db.kysely
      .selectFrom('sessions')
      .select('id')
      .where('id', 'in', ids)
      .execute();
    const tokens = await t.db.kysely
      .selectFrom('refresh_tokens')
      .select('id')
      .where('session_id', 'in', ids)
      .execute();
    return { sessions: sessions.map((r) => r.id).sort(), refreshTokens: tokens.length };
  }

  it('deletes sessions ended or expired past the retention period, with their refresh tokens', async () => {
    const now = T0 + 100 * DAY;
    const old = [
      await session({ expiresAt: now + DAY, endedAt: now - RETENTION - 1 }),
      await session({ expiresAt: now - RETENTION - 1 }),
    ];
    const kept = [
      // Live, ended within the period, expired within the period.
      await session({ expiresAt: now + DAY }),
      await session({ expiresAt: now + DAY, endedAt: now - RETENTION + 1_000 }),
      await session({ expiresAt: now - DAY }),
    ];
    const oldLink = await emailToken(now - RETENTION - 1);
    const recentLink = await emailToken(now - DAY);

    const result = await new Housekeeping(t.db.kysely, {
      retentionMs: RETENTION,
      now: () => now,
    }).run();

    expect(result).toEqual({ sessions: 2, emailTokens: 1, signingKeys: 0 });
    expect(await remaining(old)).toEqual({ sessions: [], refreshTokens: 0 });
    expect(await remaining(kept)).toEqual({ sessions: [...kept].sort(), refreshTokens: 6 });
    const links = await t.db.kysely
      .selectFrom('email_tokens')
      .select('id')
      .where('id', 'in', [oldLink, recentLink])
      .execute();
    expect(links.map((r) => r.id)).toEqual([recentLink]);
  });

  it('deletes signing keys that stopped verifying past the retention period, and no other', async () => {
    const now = T0 + 200 * DAY;
    const key = async (expiresAt: number | null, retiredAt: number | null = expiresAt) => {
      const id = randomUUID();
      await t.db.kysely
        .insertInto('signing_keys')
        .values({
          id,
          alg: 'EdDSA',
          public_jwk: '{}',
          private_key_enc: 'bwf1.x',
          created_at: T0,
          retired_at: retiredAt,
          expires_at: expiresAt,
        })
        .execute();
      return id;
    };
    const old = await key(now - RETENTION - 1);
    const kept = [
      await key(null, null), // signing
      await key(now + DAY, now), // retired, still verifying
      await key(now - DAY), // expired within the period
    ];
    const result = await new Housekeeping(t.db.kysely, {
      retentionMs: RETENTION,
      now: () => now,
    }).run();
    expect(result).toEqual({ sessions: 0, emailTokens: 0, signingKeys: 1 });
    const left = await t.db.kysely.selectFrom('signing_keys').select('id').execute();
    expect(left.map((r) => r.id).sort()).toEqual([...kept].sort());
    expect(left.map((r) => r.id)).not.toContain(old);
  });

  it('deletes in bounded batches and carries on at the next run', async () => {
    const now = T0 + 400 * DAY;
    const old = [];
    for (let i = 0; i < 5; i += 1) old.push(await session({ expiresAt: now - RETENTION - 1 }, 1));
    const housekeeping = new Housekeeping(t.db.kysely, {
      retentionMs: RETENTION,
      batchSize: 2,
      maxBatches: 2,
      now: () => now,
    });
    expect((await housekeeping.run()).sessions).toBe(4);
    expect((await remaining(old)).sessions).toHaveLength(1);
    expect((await housekeeping.run()).sessions).toBe(1);
    expect(await remaining(old)).toEqual({ sessions: [], refreshTokens: 0 });
    expect(await housekeeping.run()).toEqual({ sessions: 0, emailTokens: 0, signingKeys: 0 });
  });

  it('runs on its timer until closed, reporting each run', async () => {
    const now = T0 + 800 * DAY;
    const old = await session({ expiresAt: now - RETENTION - 1 });
    const housekeeping = new Housekeeping(t.db.kysely, {
      retentionMs: RETENTION,
      now: () => now,
    });
    const reports: { result?: PruneResult; error?: unknown }[] = [];
    housekeeping.start({ firstDelayMs: 10, intervalMs: 20 }, (outcome) => reports.push(outcome));
    const deadline = Date.now() + 5_000;
    while (reports.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await housekeeping.close();
    expect(reports[0]).toEqual({ result: { sessions: 1, emailTokens: 0, signingKeys: 0 } });
    expect(reports[1]).toEqual({ result: { sessions: 0, emailTokens: 0, signingKeys: 0 } });
    expect(await remaining([old])).toEqual({ sessions: [], refreshTokens: 0 });
    const after = reports.length;
    await new Promise((r) => setTimeout(r, 60));
    expect(reports).toHaveLength(after);
  });
});
