import type { Kysely } from 'kysely';
import { sql } from './kysely.js';
import type { DialectName } from './database.js';
import type { AuditCheckpointRow, AuditEventRow, Database } from './types.js';

/** Filters of the admin query; all optional, combined with AND. */
export interface AuditEventFilter {
  type?: string | undefined;
  /** Matches the actor, or the target when the target is a user. */
  userId?: string | undefined;
  outcome?: string | undefined;
  /** Inclusive lower bound, epoch ms. */
  since?: number | undefined;
  /** Exclusive upper bound, epoch ms. */
  until?: number | undefined;
  /** Only rows strictly older in the chain than this seq (the page cursor). */
  beforeSeq?: number | undefined;
  limit: number;
}

/** Largest page any read returns: a caller bug must not turn into a full-table read. */
export const MAX_AUDIT_PAGE = 1_000;

/*
 * An arbitrary constant naming the audit chain's PostgreSQL advisory lock. Advisory locks are
 * per database, so every instance on the same database serialises on it; it must differ from
 * Kysely's migration lock id, which it does.
 */
const AUDIT_CHAIN_LOCK_ID = 4_201_753_001;
const HEAD_ID = 'main';

/**
 * Reads and writes the audit tables. Appends go through {@link withChainLock}, which makes the
 * read-head / insert / move-head sequence atomic across every process on the database, so two
 * instances can never link two rows to the same predecessor.
 */
export class AuditEventsRepository {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: DialectName,
  ) {}

  /**
   * Runs `fn` in a transaction holding the chain's write lock. PostgreSQL: a transaction-scoped
   * advisory lock (released at commit or rollback, so a crashed writer cannot leave it held).
   * SQLite: BEGIN IMMEDIATE, which takes the database write lock up front; a deferred BEGIN
   * would read the head under a shared lock and let another process append in between.
   */
  async withChainLock<T>(fn: (repo: AuditEventsRepository) => Promise<T>): Promise<T> {
    if (this.dialect === 'postgres') {
      return this.db.transaction().execute(async (trx) => {
        await sql`select pg_advisory_xact_lock(${AUDIT_CHAIN_LOCK_ID})`.execute(trx);
        return fn(new AuditEventsRepository(trx, this.dialect));
      });
    }
    return this.db.connection().execute(async (conn) => {
      await sql`begin immediate`.execute(conn);
      let result: T;
      try {
        result = await fn(new AuditEventsRepository(conn, this.dialect));
      } catch (error) {
        await sql`rollback`.execute(conn);
        throw error;
      }
      await sql`commit`.execute(conn);
      return result;
    });
  }

  /** The newest link: seq 0 and the genesis hash while the chain is empty. */
  async head(): Promise<{ seq: number; hash: string }> {
    const row = await this.db
      .selectFrom('audit_chain_head')
      .select(['seq', 'hash'])
      .where('id', '=', HEAD_ID)
      .executeTakeFirst();
    if (!row) throw new Error('audit_chain_head has no row: the audit migration did not run');
    return { seq: Number(row.seq), hash: row.hash };
  }

  async setHead(seq: number, hash: string): Promise<void> {
    await this.db
      .updateTable('audit_chain_head')
      .set({ seq, hash })
      .where('id', '=', HEAD_ID)
      .execute();
  }

  async insert(rows: readonly AuditEventRow[]): Promise<void> {
    if (rows.length === 0) return;
    await this.db
      .insertInto('audit_events')
      .values([...rows])
      .execute();
  }

  /** Rows after `afterSeq` in chain order, for verification. */
  async chainPage(afterSeq: number, limit: number): Promise<AuditEventRow[]> {
    return this.db
      .selectFrom('audit_events')
      .selectAll()
      .where('seq', '>', afterSeq)
      .orderBy('seq', 'asc')
      .limit(Math.min(limit, MAX_AUDIT_PAGE))
      .execute()
      .then((rows) => rows.map(normalize));
  }

  /** One page for the admin API, newest first. */
  async list(filter: AuditEventFilter): Promise<AuditEventRow[]> {
    const { limit } = filter;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_AUDIT_PAGE) {
      throw new RangeError(`limit must be an integer from 1 to ${MAX_AUDIT_PAGE}`);
    }
    let query = this.db.selectFrom('audit_events').selectAll();
    if (filter.type !== undefined) query = query.where('type', '=', filter.type);
    if (filter.outcome !== undefined) query = query.where('outcome', '=', filter.outcome);
    if (filter.since !== undefined) query = query.where('time', '>=', filter.since);
    if (filter.until !== undefined) query = query.where('time', '<', filter.until);
    if (filter.beforeSeq !== undefined) query = query.where('seq', '<', filter.beforeSeq);
    const userId = filter.userId;
    if (userId !== undefined) {
      query = query.where((eb) =>
        eb.or([
          eb('actor_id', '=', userId),
          eb.and([eb('target_type', '=', 'user'), eb('target_id', '=', userId)]),
        ]),
      );
    }
    const rows = await query.orderBy('seq', 'desc').limit(limit).execute();
    return rows.map(normalize);
  }

  /** The newest checkpoint, where verification of the remaining chain starts. */
  async latestCheckpoint(): Promise<AuditCheckpointRow | undefined> {
    const row = await this.db
      .selectFrom('audit_checkpoints')
      .selectAll()
      .orderBy('seq', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row && { ...row, seq: Number(row.seq), rows_pruned: Number(row.rows_pruned) };
  }

  /**
   * Runs `fn` in one read transaction, so its reads see a single committed state of the tables:
   * a repeatable-read snapshot on PostgreSQL, the WAL snapshot of one transaction on SQLite.
   * It takes no write lock, so verification works with read-only credentials.
   */
  async inSnapshot<T>(fn: (repo: AuditEventsRepository) => Promise<T>): Promise<T> {
    return this.db
      .transaction()
      .setIsolationLevel('repeatable read')
      .execute((trx) => fn(new AuditEventsRepository(trx, this.dialect)));
  }

  /**
   * The first row outside the chain `(afterSeq, throughSeq]`, lowest seq first: a row at or below
   * the start (the genesis or a prune checkpoint, below which every row was deleted) or above
   * the head (appends move the head in the same transaction). Undefined when there is none.
   */
  async firstOutside(
    afterSeq: number,
    throughSeq: number,
  ): Promise<{ seq: number; id: string } | undefined> {
    // Two range reads on the primary key rather than one OR, which both dialects answer by
    // scanning every row of the chain.
    const first = (where: 'below' | 'above') =>
      this.db
        .selectFrom('audit_events')
        .select(['seq', 'id'])
        .where('seq', where === 'below' ? '<=' : '>', where === 'below' ? afterSeq : throughSeq)
        .orderBy('seq', 'asc')
        .limit(1)
        .executeTakeFirst();
    const row = (await first('below')) ?? (await first('above'));
    return row && { seq: Number(row.seq), id: row.id };
  }

  /** The seq of the oldest row at or after `time`, if any. */
  async firstSeqAtOrAfter(time: number): Promise<number | undefined> {
    const row = await this.db
      .selectFrom('audit_events')
      .select((eb) => eb.fn.min('seq').as('seq'))
      .where('time', '>=', time)
      .executeTakeFirst();
    return row?.seq === null || row?.seq === undefined ? undefined : Number(row.seq);
  }

  async findBySeq(seq: number): Promise<AuditEventRow | undefined> {
    const row = await this.db
      .selectFrom('audit_events')
      .selectAll()
      .where('seq', '=', seq)
      .executeTakeFirst();
    return row && normalize(row);
  }

  /** Deletes every row up to and including `seq`; returns how many. */
  async deleteThrough(seq: number): Promise<number> {
    const result = await this.db
      .deleteFrom('audit_events')
      .where('seq', '<=', seq)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async insertCheckpoint(row: AuditCheckpointRow): Promise<void> {
    await this.db.insertInto('audit_checkpoints').values(row).execute();
  }
}

// PostgreSQL returns bigint columns through the pool's int8 parser already; SQLite gives numbers.
// Number() keeps both paths identical should a driver hand back a bigint.
function normalize(row: AuditEventRow): AuditEventRow {
  return { ...row, seq: Number(row.seq), time: Number(row.time) };
}
