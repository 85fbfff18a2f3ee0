import { afterEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { createConfig } from '../../src/config/index.js';
import { LogCapture, testConfigInput } from '../helpers/app.js';
import { createMigratedTestDb, type TestDb } from '../helpers/db.js';
import { signingKeyRow } from '../db/rows.js';

const opened: TestDb[] = [];
afterEach(async () => {
  for (const t of opened.splice(0)) await t.cleanup();
});

describe('a start that fails after security events were emitted', () => {
  it('writes them to the audit table before it closes the database', async () => {
    const testDb = await createMigratedTestDb();
    opened.push(testDb);
    // A signing key row that cannot be loaded (its wrapped private key is no envelope) stops the
    // start at the signing-key store, after the start-up events (here: the weakened CORS
    // default) were emitted.
    await testDb.db.kysely.insertInto('signing_keys').values(signingKeyRow()).execute();
    const logs = new LogCapture();
    const config = createConfig(testConfigInput(testDb, { cors: { origins: ['*'] } }));

    await expect(buildApp(config, { logger: logs })).rejects.toThrow();

    const rows = await testDb.db.kysely
      .selectFrom('audit_events')
      .select(['type', 'details'])
      .execute();
    expect(rows.map((r) => [r.type, JSON.parse(r.details) as unknown])).toEqual([
      ['config.unsafe_override', expect.objectContaining({ setting: 'cors.origins' })],
    ]);
    // Before, the queued event was written after the database had closed: lost from the table,
    // with an AUDIT WRITE FAILED error ("driver has already been destroyed") in the log.
    expect(logs.raw.filter((line) => /AUDIT|destroyed/.test(line))).toEqual([]);
  });
});
