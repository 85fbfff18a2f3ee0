import { randomUUID } from 'node:crypto';
import type { AuditEventFilter, AuditEventRow, AuditEventsRepository } from '../db/index.js';
import type { RecordedSecurityEvent } from '../security-events.js';
import { canonicalJson, GENESIS_HASH, linkHash } from './audit-chain.js';

/** Why verification stopped: the first link that does not hold. */
export type BrokenLinkReason =
  /** The row's content no longer matches its hash: it was edited. */
  | 'hash_mismatch'
  /** The row does not point at its predecessor's hash: a row before it was edited or replaced. */
  | 'prev_hash_mismatch'
  /** A seq is missing: rows were deleted (a truncated tail shows as missing rows before the head). */
  | 'missing_rows'
  /** The chain-head record disagrees with the last row. */
  | 'head_mismatch'
  /**
   * A row outside the chain: below its start (the genesis or a prune checkpoint) or after its
   * head. It was inserted, yet the admin query would show it as a genuine event.
   */
  | 'unchained_row'
  /**
   * The checkpoint the chain starts from has no `audit.pruned` link naming it: it was written by
   * hand, and the rows below it deleted, which is how a whole stretch of history is removed.
   */
  | 'unattested_checkpoint';

export type VerifyResult =
  | { ok: true; checked: number; fromSeq: number; headSeq: number }
  | {
      ok: false;
      checked: number;
      fromSeq: number;
      headSeq: number;
      brokenAt: { seq: number; id: string | null; reason: BrokenLinkReason };
    };

export interface PruneResult {
  pruned: number;
  /** The checkpoint now anchoring the chain (seq 0 when nothing was ever pruned). */
  checkpointSeq: number;
  /** The `audit.pruned` event appended to the chain, when anything was pruned (for the webhook). */
  event?: RecordedSecurityEvent;
}

/** Verification reads the chain in pages of this many rows, so memory stays flat. */
const VERIFY_PAGE = 500;

/** The chain was found broken where an operation needs it whole. */
export class AuditChainBrokenError extends Error {
  constructor(readonly result: VerifyResult & { ok: false }) {
    super(
      `the audit chain is broken at seq ${result.brokenAt.seq} (${result.brokenAt.reason}); run \`bulwark audit-log verify\``,
    );
    this.name = 'AuditChainBrokenError';
  }
}

/** What an `audit.pruned` link says about the checkpoint its prune recorded. */
interface PruneAttestation {
  checkpointSeq: number;
  checkpointHash: string;
}

/** True when `row` is the `audit.pruned` link of exactly this checkpoint. */
function attests(row: AuditEventRow, checkpoint: { seq: number; hash: string }): boolean {
  if (row.type !== 'audit.pruned') return false;
  try {
    const details = JSON.parse(row.details) as Partial<PruneAttestation>;
    return details.checkpointSeq === checkpoint.seq && details.checkpointHash === checkpoint.hash;
  } catch {
    return false;
  }
}

/** Links `contents` after the head; runs under the chain lock with that lock's `repo`. */
async function appendLinks(
  repo: AuditEventsRepository,
  contents: ReadonlyArray<ReturnType<typeof rowContent>>,
): Promise<void> {
  let { seq, hash } = await repo.head();
  const rows: AuditEventRow[] = [];
  for (const content of contents) {
    seq += 1;
    const link = { ...content, seq, prev_hash: hash };
    hash = linkHash(link);
    rows.push({ ...link, hash });
  }
  await repo.insert(rows);
  await repo.setHead(seq, hash);
}

/** Turns a recorded event into a row's content (everything but chain position and hashes). */
function rowContent(event: RecordedSecurityEvent) {
  return {
    id: randomUUID(),
    time: event.time,
    type: event.type,
    outcome: event.outcome,
    actor_id: event.actorId ?? null,
    target_type: event.target?.type ?? null,
    target_id: event.target?.id ?? null,
    ip: event.ip ?? null,
    user_agent: event.userAgent ?? null,
    request_id: event.requestId ?? null,
    details: canonicalJson(event.details ?? {}),
  };
}

/**
 * The tamper-evident audit log: security events as an append-only hash chain. Each row's hash
 * covers its content and its predecessor's hash, so editing or deleting any row breaks every
 * later link; `verify` finds the first one. This detects tampering by anyone who cannot also
 * recompute the rest of the chain unnoticed: export the head hash (GET the newest event, or
 * `bulwark audit-log verify`) to somewhere else to also catch a full rewrite.
 */
export class AuditLog {
  constructor(private readonly repo: AuditEventsRepository) {}

  /** Appends events in order as one transaction, under the chain lock. */
  async append(events: readonly RecordedSecurityEvent[]): Promise<void> {
    if (events.length === 0) return;
    const contents = events.map(rowContent);
    await this.repo.withChainLock((repo) => appendLinks(repo, contents));
  }

  /** One page of events, newest first. */
  list(filter: AuditEventFilter): Promise<AuditEventRow[]> {
    return this.repo.list(filter);
  }

  /**
   * Walks the chain from the newest checkpoint (or the genesis) to the head and reports the
   * first link that does not hold. Rows appended while it runs are after the head it read first,
   * and are left for the next run.
   */
  async verify(): Promise<VerifyResult> {
    const head = await this.repo.head();
    const checkpoint = await this.repo.latestCheckpoint();
    const fromSeq = checkpoint?.seq ?? 0;
    let expectedSeq = fromSeq + 1;
    let prevHash = checkpoint?.hash ?? GENESIS_HASH;
    let checked = 0;
    // A checkpoint is trusted only with the chained `audit.pruned` link its prune appended.
    let attested = checkpoint === undefined;
    const broken = (
      seq: number,
      id: string | null,
      reason: BrokenLinkReason,
    ): VerifyResult & { ok: false } => ({
      ok: false,
      checked,
      fromSeq,
      headSeq: head.seq,
      brokenAt: { seq, id, reason },
    });

    while (expectedSeq <= head.seq) {
      const page = await this.repo.chainPage(expectedSeq - 1, VERIFY_PAGE);
      if (page.length === 0) return broken(expectedSeq, null, 'missing_rows');
      for (const row of page) {
        if (row.seq > head.seq) break;
        if (row.seq !== expectedSeq) return broken(expectedSeq, null, 'missing_rows');
        if (row.prev_hash !== prevHash) return broken(row.seq, row.id, 'prev_hash_mismatch');
        if (linkHash(row) !== row.hash) return broken(row.seq, row.id, 'hash_mismatch');
        if (!attested && attests(row, checkpoint!)) attested = true;
        prevHash = row.hash;
        expectedSeq += 1;
        checked += 1;
      }
    }
    if (prevHash !== head.hash) return broken(head.seq, null, 'head_mismatch');
    // The walk covers (fromSeq, head]; a row anywhere else is no link of the chain. The head is
    // read again in the same snapshot as the rows, so events appended meanwhile (above the first
    // head, below the current one) are not mistaken for inserted ones.
    const stray = await this.repo.inSnapshot(async (repo) =>
      repo.firstOutside(fromSeq, (await repo.head()).seq),
    );
    if (stray) return broken(stray.seq, stray.id, 'unchained_row');
    if (!attested) return broken(fromSeq, null, 'unattested_checkpoint');
    return { ok: true, checked, fromSeq, headSeq: head.seq };
  }

  /**
   * Deletes the events older than `before` (epoch ms) that form a prefix of the chain, and
   * records the last deleted link as a checkpoint so the rest still verifies. Refuses to prune
   * a broken chain: deleting the evidence of tampering is exactly what an attacker would want.
   * The prune is itself appended to the chain, in the same transaction, as an `audit.pruned`
   * link naming the checkpoint: a checkpoint row alone is no proof (anyone who can delete rows
   * can insert one), so `verify` trusts a checkpoint only with its link.
   */
  async prune(before: number, now: number): Promise<PruneResult> {
    const verified = await this.verify();
    if (!verified.ok) throw new AuditChainBrokenError(verified);
    return this.repo.withChainLock(async (repo) => {
      const head = await repo.head();
      const checkpoint = await repo.latestCheckpoint();
      const floor = checkpoint?.seq ?? 0;
      const firstKept = await repo.firstSeqAtOrAfter(before);
      const last = firstKept === undefined ? head.seq : firstKept - 1;
      if (last <= floor) return { pruned: 0, checkpointSeq: floor };
      const anchor = await repo.findBySeq(last);
      if (!anchor) throw new Error(`audit row ${last} vanished while pruning`);
      const pruned = await repo.deleteThrough(last);
      await repo.insertCheckpoint({
        seq: last,
        hash: anchor.hash,
        pruned_at: now,
        rows_pruned: pruned,
      });
      const attestation: PruneAttestation = { checkpointSeq: last, checkpointHash: anchor.hash };
      const event: RecordedSecurityEvent = {
        type: 'audit.pruned',
        outcome: 'success',
        time: now,
        details: { ...attestation, rowsPruned: pruned, before },
      };
      await appendLinks(repo, [rowContent(event)]);
      return { pruned, checkpointSeq: last, event };
    });
  }
}
