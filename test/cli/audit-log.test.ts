import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../../src/audit/audit-log.js';
import {
  AuditEventsRepository,
  createDatabase,
  migrateToLatest,
  type Db,
} from '../../src/db/index.js';
import type { RecordedSecurityEvent } from '../../src/security-events.js';
import { runCli } from '../helpers/cli.js';
import { BIN, runNode } from '../helpers/process.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';

// Runs the CLI's main in this process (runCli) against a SQLite file prepared here; the help
// test runs the built CLI (npm test builds first).
const DAY = 86_400_000;
const opened: Db[] = [];
afterEach(async () => {
  for (const db of opened.splice(0)) await db.close();
});

async function prepared(times: number[]): Promise<{ path: string; db: Db; log: AuditLog }> {
  const path = join(mkdtempSync(join(tmpdir(), 'bulwark-audit-cli-')), 'bulwark.db');
  const db = await createDatabase({ sqlitePath: path });
  opened.push(db);
  await migrateToLatest(db);
  const log = new AuditLog(new AuditEventsRepository(db.kysely, db.dialect));
  const events: RecordedSecurityEvent[] = times.map((time, i) => ({
    type: 'login.failed',
    outcome: 'failure',
    time,
    details: { i },
  }));
  await log.append(events);
  return { path, db, log };
}

function cli(path: string, ...args: string[]) {
  return runCli(['audit-log', ...args], { env: { BULWARK_DATABASE_SQLITE_PATH: path } });
}

describe('bulwark audit-log', () => {
  it('verify: exit 0 on an intact chain', async () => {
    const { path } = await prepared([1, 2, 3].map((n) => Date.now() - n));
    const res = await cli(path, 'verify');
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('audit chain OK: 3 events verified (seq 1..3)');
  });

  it('verify: exit 1 naming the first broken link after a row is edited, or deleted', async () => {
    const { path, db } = await prepared([1, 2, 3, 4].map((n) => Date.now() - n));
    await db.kysely
      .updateTable('audit_events')
      .set({ ip: '10.9.9.9' })
      .where('seq', '=', 2)
      .execute();
    const edited = await cli(path, 'verify');
    expect(edited.code).toBe(1);
    expect(edited.stderr).toMatch(
      /audit chain BROKEN at seq 2 \(event [0-9a-f-]{36}\): hash_mismatch/,
    );
    // The range is the chain's, not what was verified (seq 1 only): said so, not `(seq 1..4)`.
    expect(edited.stderr).toContain(
      'hash_mismatch; 1 event verified before it, in a chain of seq 1..4',
    );

    const json = await cli(path, 'verify', '--json');
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({
      ok: false,
      checked: 1,
      brokenAt: { seq: 2, reason: 'hash_mismatch' },
    });

    const other = await prepared([1, 2, 3].map((n) => Date.now() - n));
    await other.db.kysely.deleteFrom('audit_events').where('seq', '=', 2).execute();
    const deleted = await cli(other.path, 'verify');
    expect(deleted.code).toBe(1);
    expect(deleted.stderr).toContain('BROKEN at seq 2: missing_rows');
  });

  it('prune: deletes old events behind a checkpoint; verify still passes', async () => {
    const now = Date.now();
    const { path } = await prepared([now - 90 * DAY, now - 60 * DAY, now - DAY, now]);
    const res = await cli(path, 'prune', '--older-than-days', '30');
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(
      /pruned 2 audit events older than .*; the chain now starts after seq 2/,
    );
    const verify = await cli(path, 'verify');
    expect(verify.code).toBe(0);
    // The two kept events and the prune's own audit.pruned link.
    expect(verify.stdout).toContain('3 events verified (seq 3..5)');
  });

  it('prune: sends its audit.pruned event to the webhook, when chosen there', async () => {
    const receiver = await new WebhookReceiver().start();
    try {
      const now = Date.now();
      const { path, db } = await prepared([now - 90 * DAY, now - 85 * DAY, now - DAY]);
      const env = {
        BULWARK_DATABASE_SQLITE_PATH: path,
        BULWARK_AUDIT_WEBHOOK_URL: receiver.url,
        BULWARK_AUDIT_WEBHOOK_SECRET: 'audit-cli-webhook-secret-0123456789',
      };
      // Not chosen (the default list): nothing is sent.
      const first = await runCli(['audit-log', 'prune', '--older-than-days', '88'], { env });
      expect(first.stdout).toContain('pruned 1 audit events');
      expect(receiver.received).toEqual([]);

      const res = await runCli(['audit-log', 'prune', '--older-than-days', '30'], {
        env: { ...env, BULWARK_AUDIT_WEBHOOK_EVENTS: 'audit.pruned,keys.rotated' },
      });
      expect(res.stderr).toBe('');
      expect(res.code).toBe(0);
      const [link] = await db.kysely
        .selectFrom('audit_events')
        .selectAll()
        .where('type', '=', 'audit.pruned')
        .orderBy('seq', 'desc')
        .limit(1)
        .execute();
      // Sent before the command returned, and exactly what the chain holds.
      expect(receiver.received.map((r) => JSON.parse(r.body) as unknown)).toEqual([
        {
          event: {
            type: 'audit.pruned',
            outcome: 'success',
            time: Number(link!.time),
            details: JSON.parse(link!.details) as unknown,
          },
        },
      ]);
      expect(JSON.parse(link!.details)).toMatchObject({ rowsPruned: 1 });
    } finally {
      await receiver.stop();
    }
  });

  it('prune: refuses a broken chain, deleting nothing', async () => {
    const now = Date.now();
    const { path, db } = await prepared([now - 90 * DAY, now - 60 * DAY]);
    await db.kysely
      .updateTable('audit_events')
      .set({ type: 'login.succeeded' })
      .where('seq', '=', 1)
      .execute();
    const res = await cli(path, 'prune', '--older-than-days', '30');
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('nothing pruned');
    const rows = await db.kysely.selectFrom('audit_events').select('seq').execute();
    expect(rows).toHaveLength(2);
  });

  it('keeps the chain valid when two processes append at once (SQLite, BEGIN IMMEDIATE)', async () => {
    const { path } = await prepared([]);
    const env = { AUDIT_DB: path, AUDIT_EVENTS: '25' };
    const runs = await Promise.all([
      runNode(['test/fixtures/append-audit.mjs'], { env, timeoutMs: 60_000 }),
      runNode(['test/fixtures/append-audit.mjs'], { env, timeoutMs: 60_000 }),
    ]);
    for (const run of runs) {
      expect(run.stderr).toBe('');
      expect(run.stdout).toContain('APPENDED 25');
    }
    const verify = await cli(path, 'verify');
    expect(verify.stdout).toContain('audit chain OK: 50 events verified (seq 1..50)');
  });

  it('refuses a missing or unknown action and bad options with exit 2', async () => {
    const { path } = await prepared([]);
    for (const args of [
      [],
      ['rewrite'],
      ['prune', '--older-than-days', 'x'],
      ['prune', '--older-than-days', '0x10'],
      ['prune', '--older-than-days='],
      ['prune', '--json'],
      ['verify', '--older-than-days', '3'],
      ['verify', 'extra'],
    ]) {
      const res = await cli(path, ...args);
      expect(res.code, args.join(' ')).toBe(2);
      expect(res.stderr).toContain('Usage: bulwark audit-log');
    }
  });

  it('verify on a database that does not exist: one line with the fix, and no file created', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bulwark-audit-cli-'));
    const path = join(dir, 'fresh', 'new.db');
    const res = await cli(path, 'verify');
    expect(res.code).toBe(1);
    expect(res.stdout).toBe('');
    expect(res.stderr).toBe(
      `bulwark audit-log: the SQLite database ${path} does not exist. Fix: point BULWARK_DATABASE_SQLITE_PATH (database.sqlitePath) at the service's database (a relative path starts from the current directory), or run \`bulwark migrate\` to create one.\n`,
    );
    expect(existsSync(join(dir, 'fresh'))).toBe(false);
  });

  it('prune on a file that is not a database: one line with the fix, no stack', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'bulwark-audit-cli-')), 'not.db');
    writeFileSync(path, 'not a database '.repeat(40));
    const res = await cli(path, 'prune');
    expect(res.code).toBe(1);
    expect(res.stderr).toBe(
      `bulwark audit-log: the SQLite database ${path}: file is not a database. Fix: point BULWARK_DATABASE_SQLITE_PATH (database.sqlitePath) at the Bulwark database, or restore it from a backup.\n`,
    );
  });

  it('is listed in the help', async () => {
    const res = await runNode([BIN, '--help']);
    expect(res.stdout).toContain('audit-log');
  });
});
