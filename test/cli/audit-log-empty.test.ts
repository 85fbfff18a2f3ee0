import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AuditLog } from '../../src/audit/audit-log.js';
import { AuditEventsRepository, createDatabase, migrateToLatest } from '../../src/db/index.js';
import { runCli } from '../helpers/cli.js';

// What `bulwark audit-log verify` says of a chain with no event yet, or one: right after
// `bulwark migrate`, before the service has started, it printed "0 events verified (seq 1..0)".
async function chainOf(events: number): Promise<string> {
  const path = join(mkdtempSync(join(tmpdir(), 'bulwark-audit-empty-')), 'bulwark.db');
  const db = await createDatabase({ sqlitePath: path });
  try {
    await migrateToLatest(db);
    const log = new AuditLog(new AuditEventsRepository(db.kysely, db.dialect));
    const event = { type: 'login.failed', outcome: 'failure', time: Date.now() } as const;
    await log.append(Array.from({ length: events }, () => event));
  } finally {
    await db.close();
  }
  return path;
}

describe('bulwark audit-log verify, short chains', () => {
  it('says that an empty chain is empty, and counts one event in the singular', async () => {
    const verify = async (path: string) =>
      runCli(['audit-log', 'verify'], { env: { BULWARK_DATABASE_SQLITE_PATH: path } });
    const empty = await verify(await chainOf(0));
    expect(empty.code).toBe(0);
    expect(empty.stdout.trim()).toBe('audit chain OK: no events yet');
    const one = await verify(await chainOf(1));
    expect(one.code).toBe(0);
    expect(one.stdout.trim()).toBe('audit chain OK: 1 event verified (seq 1..1)');
  });
});
