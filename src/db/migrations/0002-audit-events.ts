import type { CreateTableBuilder, Kysely, Migration } from 'kysely';
import { sql } from '../kysely.js';
import type { DialectName } from '../database.js';

/*
 * The hash-chained security-event log (src/audit/). Three tables:
 * - audit_events: append-only rows, each with the hash of its content chained to the previous
 *   row's hash; `seq` is the chain position (1, 2, 3 …), assigned under the append lock;
 * - audit_chain_head: one row naming the last link, so deleting the newest rows is detectable
 *   too (a chain alone cannot tell a truncated tail from a quiet period);
 * - audit_checkpoints: the last link of each pruned prefix, where verification starts after a
 *   retention run has deleted old rows.
 */

type AnyDb = Kysely<unknown>;

/** The `prev_hash` of the first row: 64 zeros, the hex width of SHA-256. */
export const GENESIS_HASH = '0'.repeat(64);

/** Builds the audit-log migration for one dialect. */
export function auditEventsMigration(dialect: DialectName): Migration {
  const bigint = dialect === 'postgres' ? 'bigint' : 'integer';
  const strict = <T extends string, C extends string>(
    table: CreateTableBuilder<T, C>,
  ): CreateTableBuilder<T, C> => (dialect === 'sqlite' ? table.modifyEnd(sql`strict`) : table);

  return {
    async up(db: AnyDb): Promise<void> {
      await db.schema
        .createTable('audit_events')
        .addColumn('seq', bigint, (c) => c.primaryKey())
        .addColumn('id', 'text', (c) => c.notNull().unique())
        .addColumn('time', bigint, (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('outcome', 'text', (c) => c.notNull())
        .addColumn('actor_id', 'text')
        .addColumn('target_type', 'text')
        .addColumn('target_id', 'text')
        .addColumn('ip', 'text')
        .addColumn('user_agent', 'text')
        .addColumn('request_id', 'text')
        .addColumn('details', 'text', (c) => c.notNull())
        .addColumn('prev_hash', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull())
        .$call(strict)
        .execute();
      // The admin query filters by these and pages newest first by seq.
      await db.schema
        .createIndex('audit_events_type_seq_idx')
        .on('audit_events')
        .columns(['type', 'seq'])
        .execute();
      await db.schema
        .createIndex('audit_events_actor_seq_idx')
        .on('audit_events')
        .columns(['actor_id', 'seq'])
        .execute();
      await db.schema
        .createIndex('audit_events_target_seq_idx')
        .on('audit_events')
        .columns(['target_id', 'seq'])
        .execute();
      await db.schema
        .createIndex('audit_events_time_idx')
        .on('audit_events')
        .column('time')
        .execute();

      await db.schema
        .createTable('audit_chain_head')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('seq', bigint, (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull())
        .$call(strict)
        .execute();
      // The head starts at the genesis, so appends only ever update it (no insert race).
      await (db as Kysely<{ audit_chain_head: { id: string; seq: number; hash: string } }>)
        .insertInto('audit_chain_head')
        .values({ id: 'main', seq: 0, hash: GENESIS_HASH })
        .execute();

      await db.schema
        .createTable('audit_checkpoints')
        .addColumn('seq', bigint, (c) => c.primaryKey())
        .addColumn('hash', 'text', (c) => c.notNull())
        .addColumn('pruned_at', bigint, (c) => c.notNull())
        .addColumn('rows_pruned', bigint, (c) => c.notNull())
        .$call(strict)
        .execute();
    },

    async down(db: AnyDb): Promise<void> {
      await db.schema.dropTable('audit_checkpoints').execute();
      await db.schema.dropTable('audit_chain_head').execute();
      await db.schema.dropTable('audit_events').execute();
    },
  };
}
