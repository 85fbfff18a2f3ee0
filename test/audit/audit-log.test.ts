import { afterEach, describe, expect, it } from 'vitest';
import { AuditChainBrokenError, AuditLog } from '../../src/audit/audit-log.js';
import { GENESIS_HASH, linkHash } from '../../src/audit/audit-chain.js';
import { AuditEventsRepository, createDatabase, type Db } from '../../src/db/index.js';
import type { RecordedSecurityEvent } from '../../src/security-events.js';
import { createMigratedTestDb, type TestDb } from '../helpers/db.js';

const opened: TestDb[] = [];
const extra: Db[] = [];
afterEach(async () => {
  for (const db of extra.splice(0)) await db.close();
  for (const t of opened.splice(0)) await t.cleanup();
});

async function fresh(): Promise<{ t: TestDb; log: AuditLog }> {
  const t = await createMigratedTestDb();
  opened.push(t);
  return { t, log: new AuditLog(new AuditEventsRepository(t.db.kysely, t.db.dialect)) };
}

/**
 * A second pool on the same PostgreSQL schema stands in for a second instance. On SQLite the
 * same handle is shared: better-sqlite3 is synchronous, so a second handle in the *same* thread
 * would block on the first one's lock without letting it finish (other processes wait on
 * busy_timeout instead; test/cli/audit-log.test.ts runs two processes at once).
 */
async function secondHandle(t: TestDb): Promise<Db> {
  if (t.db.dialect === 'sqlite') return t.db;
  const db = await createDatabase({ url: t.url, sqlitePath: t.sqlitePath });
  extra.push(db);
  return db;
}

let counter = 0;
function event(overrides: Partial<RecordedSecurityEvent> = {}): RecordedSecurityEvent {
  counter += 1;
  return {
    type: 'login.failed',
    outcome: 'failure',
    time: 1_700_000_000_000 + counter,
    ip: '203.0.113.9',
    userAgent: 'test-agent',
    requestId: `req-${counter}`,
    target: { type: 'user', id: '7b0e3e53-8f5c-4d2a-9a55-0c9f3c0b1a01' },
    details: { reason: 'wrong_password', zeta: 1, alpha: ['b', 'a'] },
    ...overrides,
  };
}

async function rows(t: TestDb) {
  return t.db.kysely.selectFrom('audit_events').selectAll().orderBy('seq', 'asc').execute();
}

describe('AuditLog', () => {
  it('appends a chain: seq 1, 2, 3 …, each row linked to its predecessor', async () => {
    const { t, log } = await fresh();
    await log.append([event(), event({ type: 'login.succeeded', outcome: 'success' })]);
    await log.append([event()]);
    const stored = await rows(t);
    expect(stored.map((r) => Number(r.seq))).toEqual([1, 2, 3]);
    expect(stored[0]!.prev_hash).toBe(GENESIS_HASH);
    expect(stored[1]!.prev_hash).toBe(stored[0]!.hash);
    expect(stored[2]!.prev_hash).toBe(stored[1]!.hash);
    for (const row of stored) {
      expect(row.hash).toMatch(/^[0-9a-f]{64}$/);
      expect(linkHash({ ...row, seq: Number(row.seq), time: Number(row.time) })).toBe(row.hash);
    }
    // Details are canonical: keys sorted, so the same facts always hash the same.
    expect(stored[0]!.details).toBe('{"alpha":["b","a"],"reason":"wrong_password","zeta":1}');
    await expect(log.verify()).resolves.toEqual({ ok: true, checked: 3, fromSeq: 0, headSeq: 3 });
  });

  it('verifies an empty chain', async () => {
    const { log } = await fresh();
    await expect(log.verify()).resolves.toEqual({ ok: true, checked: 0, fromSeq: 0, headSeq: 0 });
  });

  it('catches an edited row (hash mismatch) at that row', async () => {
    const { t, log } = await fresh();
    await log.append([event(), event(), event(), event()]);
    await t.db.kysely
      .updateTable('audit_events')
      .set({ outcome: 'success' })
      .where('seq', '=', 2)
      .execute();
    const result = await log.verify();
    expect(result).toMatchObject({
      ok: false,
      checked: 1,
      brokenAt: { seq: 2, reason: 'hash_mismatch' },
    });
  });

  it('catches an edited row whose hash was recomputed, at the next link', async () => {
    const { t, log } = await fresh();
    await log.append([event(), event(), event()]);
    const [, second] = await rows(t);
    const forged = { ...second!, seq: 2, time: Number(second!.time), actor_id: 'someone-else' };
    await t.db.kysely
      .updateTable('audit_events')
      .set({ actor_id: forged.actor_id, hash: linkHash(forged) })
      .where('seq', '=', 2)
      .execute();
    expect(await log.verify()).toMatchObject({
      ok: false,
      brokenAt: { seq: 3, reason: 'prev_hash_mismatch' },
    });
  });

  it('catches a deleted row in the middle, the first row, and the newest row', async () => {
    const { t, log } = await fresh();
    await log.append([event(), event(), event(), event(), event()]);
    await t.db.kysely.deleteFrom('audit_events').where('seq', '=', 3).execute();
    expect(await log.verify()).toMatchObject({
      ok: false,
      checked: 2,
      brokenAt: { seq: 3, id: null, reason: 'missing_rows' },
    });

    const other = await fresh();
    await other.log.append([event(), event()]);
    await other.t.db.kysely.deleteFrom('audit_events').where('seq', '=', 1).execute();
    expect(await other.log.verify()).toMatchObject({
      ok: false,
      brokenAt: { seq: 1, reason: 'missing_rows' },
    });

    const third = await fresh();
    await third.log.append([event(), event(), event()]);
    await third.t.db.kysely.deleteFrom('audit_events').where('seq', '=', 3).execute();
    expect(await third.log.verify()).toMatchObject({
      ok: false,
      checked: 2,
      brokenAt: { seq: 3, reason: 'missing_rows' },
    });
  });

  it('catches a forged head', async () => {
    const { t, log } = await fresh();
    await log.append([event(), event()]);
    await t.db.kysely
      .updateTable('audit_chain_head')
      .set({ hash: 'f'.repeat(64) })
      .execute();
    expect(await log.verify()).toMatchObject({ ok: false, brokenAt: { reason: 'head_mismatch' } });
  });

  it('catches a row inserted outside the chain: after the head, at or below its start', async () => {
    // A forged row that links to nothing the walk covers: the admin query still serves it as a
    // genuine event, so verify must name it rather than report the chain OK.
    const forge = async (t: TestDb, seq: number, base: number) => {
      const [row] = await t.db.kysely
        .selectFrom('audit_events')
        .selectAll()
        .where('seq', '=', base)
        .execute();
      const forged = {
        ...row!,
        seq,
        id: '0f0f0f0f-0f0f-4f0f-8f0f-0f0f0f0f0f0f',
        actor_id: 'attacker',
        prev_hash: row!.hash,
      };
      await t.db.kysely
        .insertInto('audit_events')
        .values({ ...forged, hash: linkHash({ ...forged, time: Number(forged.time) }) })
        .execute();
    };
    for (const seq of [4, 0, -5]) {
      const { t, log } = await fresh();
      await log.append([event(), event(), event()]);
      await forge(t, seq, 3);
      expect(await log.verify(), `seq ${seq}`).toMatchObject({
        ok: false,
        checked: 3,
        brokenAt: { seq, id: '0f0f0f0f-0f0f-4f0f-8f0f-0f0f0f0f0f0f', reason: 'unchained_row' },
      });
    }
    // A checkpoint written by hand (not by prune, which deletes the rows it covers in the same
    // transaction) would hide every row below it from the walk.
    const { t, log } = await fresh();
    await log.append([event(), event(), event()]);
    const [second] = await t.db.kysely
      .selectFrom('audit_events')
      .selectAll()
      .where('seq', '=', 2)
      .execute();
    await t.db.kysely
      .insertInto('audit_checkpoints')
      .values({ seq: 2, hash: second!.hash, pruned_at: 1, rows_pruned: 2 })
      .execute();
    expect(await log.verify()).toMatchObject({
      ok: false,
      fromSeq: 2,
      brokenAt: { seq: 1, reason: 'unchained_row' },
    });
  });

  it('catches a stretch of history deleted behind a checkpoint written by hand', async () => {
    // What prune does, done by hand: delete rows 1..3 (recent ones too) and insert a checkpoint
    // naming the last of them. No later row is touched, so every link still holds.
    const { t, log } = await fresh();
    await log.append([event(), event(), event(), event(), event()]);
    const [third] = await t.db.kysely
      .selectFrom('audit_events')
      .selectAll()
      .where('seq', '=', 3)
      .execute();
    await t.db.kysely.deleteFrom('audit_events').where('seq', '<=', 3).execute();
    await t.db.kysely
      .insertInto('audit_checkpoints')
      .values({ seq: 3, hash: third!.hash, pruned_at: 1, rows_pruned: 3 })
      .execute();
    expect(await log.verify()).toMatchObject({
      ok: false,
      fromSeq: 3,
      brokenAt: { seq: 3, reason: 'unattested_checkpoint' },
    });
    await expect(log.prune(Number.MAX_SAFE_INTEGER, 1)).rejects.toBeInstanceOf(
      AuditChainBrokenError,
    );
  });

  it('records each prune in the chain as audit.pruned, naming its checkpoint', async () => {
    const { t, log } = await fresh();
    await log.append([event({ time: 1_000 }), event({ time: 2_000 }), event({ time: 9_000 })]);
    const result = await log.prune(5_000, 10_000);
    expect(result).toMatchObject({ pruned: 2, checkpointSeq: 2 });
    const stored = await rows(t);
    expect(stored.map((r) => [Number(r.seq), r.type])).toEqual([
      [3, 'login.failed'],
      [4, 'audit.pruned'],
    ]);
    const [checkpoint] = await t.db.kysely.selectFrom('audit_checkpoints').selectAll().execute();
    expect(JSON.parse(stored[1]!.details)).toEqual({
      before: 5_000,
      checkpointHash: checkpoint!.hash,
      checkpointSeq: 2,
      rowsPruned: 2,
    });
    expect(Number(stored[1]!.time)).toBe(10_000);
    // The event it returns (for the webhook) is the one in the chain.
    expect(result.event).toEqual({
      type: 'audit.pruned',
      outcome: 'success',
      time: 10_000,
      details: JSON.parse(stored[1]!.details) as unknown,
    });
    await expect(log.verify()).resolves.toEqual({ ok: true, checked: 2, fromSeq: 2, headSeq: 4 });
    // The link must name this checkpoint: one that names another does not vouch for it.
    await t.db.kysely
      .updateTable('audit_checkpoints')
      .set({ seq: 3, hash: stored[0]!.hash })
      .execute();
    await t.db.kysely.deleteFrom('audit_events').where('seq', '=', 3).execute();
    expect(await log.verify()).toMatchObject({
      ok: false,
      brokenAt: { seq: 3, reason: 'unattested_checkpoint' },
    });
  });

  it('does not mistake events appended while it verifies for inserted rows', async () => {
    const { t, log } = await fresh();
    const writer = new AuditLog(
      new AuditEventsRepository((await secondHandle(t)).kysely, t.db.dialect),
    );
    await log.append(Array.from({ length: 20 }, () => event()));
    const results = await Promise.all([
      log.verify(),
      ...Array.from({ length: 10 }, () => writer.append([event(), event()])),
      log.verify(),
    ]);
    for (const result of results.filter((r) => r !== undefined)) {
      expect(result).toMatchObject({ ok: true });
    }
    await expect(log.verify()).resolves.toMatchObject({ ok: true, checked: 40, headSeq: 40 });
  });

  it('prunes old events behind a checkpoint, and the rest still verifies', async () => {
    const { t, log } = await fresh();
    const old = 1_000;
    await log.append([event({ time: old }), event({ time: old + 1 }), event({ time: old + 2 })]);
    await log.append([event({ time: 5_000 }), event({ time: 6_000 })]);
    await expect(log.prune(5_000, 10_000)).resolves.toMatchObject({ pruned: 3, checkpointSeq: 3 });
    // Seq 6 is the prune's own audit.pruned link.
    expect((await rows(t)).map((r) => Number(r.seq))).toEqual([4, 5, 6]);
    await expect(log.verify()).resolves.toEqual({ ok: true, checked: 3, fromSeq: 3, headSeq: 6 });
    // Nothing older left: a second run is a no-op; appends continue the chain.
    await expect(log.prune(5_000, 10_001)).resolves.toEqual({ pruned: 0, checkpointSeq: 3 });
    await log.append([event({ time: 7_000 })]);
    await expect(log.verify()).resolves.toMatchObject({ ok: true, checked: 4, headSeq: 7 });
    // Pruning everything leaves a chain of the one link that records it, after the checkpoint.
    await expect(log.prune(100_000, 100_000)).resolves.toMatchObject({
      pruned: 4,
      checkpointSeq: 7,
    });
    await expect(log.verify()).resolves.toEqual({ ok: true, checked: 1, fromSeq: 7, headSeq: 8 });
    // Deleting the row after a checkpoint is still caught.
    await log.append([event({ time: 200_000 }), event({ time: 200_001 })]);
    await t.db.kysely.deleteFrom('audit_events').where('seq', '=', 9).execute();
    expect(await log.verify()).toMatchObject({
      ok: false,
      brokenAt: { seq: 9, reason: 'missing_rows' },
    });
  });

  it('refuses to prune a broken chain', async () => {
    const { t, log } = await fresh();
    await log.append([event({ time: 1 }), event({ time: 2 }), event({ time: 3 })]);
    await t.db.kysely
      .updateTable('audit_events')
      .set({ ip: '10.0.0.1' })
      .where('seq', '=', 1)
      .execute();
    await expect(log.prune(10, 20)).rejects.toBeInstanceOf(AuditChainBrokenError);
    expect(await rows(t)).toHaveLength(3);
  });

  it('keeps the chain valid under parallel appends from two database handles', async () => {
    const { t, log } = await fresh();
    const second = new AuditLog(
      new AuditEventsRepository((await secondHandle(t)).kysely, t.db.dialect),
    );
    await Promise.all(
      Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? log : second).append([event(), event()])),
    );
    const stored = await rows(t);
    expect(stored).toHaveLength(80);
    expect(stored.map((r) => Number(r.seq))).toEqual(Array.from({ length: 80 }, (_, i) => i + 1));
    await expect(log.verify()).resolves.toMatchObject({ ok: true, checked: 80, headSeq: 80 });
  });

  it('lists newest first with filters and a seq cursor', async () => {
    const { log } = await fresh();
    const user = '3f1c9d2e-1111-4222-8333-444455556666';
    await log.append([
      event({ type: 'login.succeeded', outcome: 'success', actorId: user, time: 100 }),
      event({ type: 'login.failed', time: 200 }),
      event({
        type: 'user.updated',
        outcome: 'success',
        target: { type: 'user', id: user },
        time: 300,
      }),
    ]);
    const all = await log.list({ limit: 10 });
    expect(all.map((r) => r.seq)).toEqual([3, 2, 1]);
    expect((await log.list({ limit: 10, userId: user })).map((r) => r.seq)).toEqual([3, 1]);
    expect((await log.list({ limit: 10, type: 'login.failed' })).map((r) => r.seq)).toEqual([2]);
    expect((await log.list({ limit: 10, outcome: 'success' })).map((r) => r.seq)).toEqual([3, 1]);
    expect((await log.list({ limit: 10, since: 200, until: 300 })).map((r) => r.seq)).toEqual([2]);
    expect((await log.list({ limit: 10, beforeSeq: 3 })).map((r) => r.seq)).toEqual([2, 1]);
    await expect(log.list({ limit: 0 })).rejects.toThrow(RangeError);
  });
});
