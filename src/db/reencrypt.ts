import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Kysely } from 'kysely';
import {
  DecryptionError,
  FieldCipher,
  type DecryptionFailure,
  type Keyring,
} from '../crypto/index.js';
import {
  EncryptedColumnsRepository,
  encryptedColumns,
  fieldContext,
  type EncryptedColumn,
  type EnvelopeReplacement,
} from './encrypted-columns.js';
import type { Database } from './types.js';

/** Most unreadable rows named per column; the count stays exact beyond it. */
export const MAX_NAMED_UNREADABLE = 100;

/** A value that could not be decrypted: where it is and why. Never the value. */
export interface UnreadableValue {
  id: string;
  reason: DecryptionFailure;
}

/** What re-encryption did to one column. */
export interface ColumnReport {
  column: string;
  /** Non-null values read. */
  examined: number;
  /** Rewritten under the current key version. */
  reencrypted: number;
  /** Already under the current key version (and authentic). */
  alreadyCurrent: number;
  /** Rewritten by someone else between our read and our write: left as they wrote it. */
  changedMeanwhile: number;
  unreadable: number;
  /** The first MAX_NAMED_UNREADABLE unreadable values, in id order. */
  unreadableRows: UnreadableValue[];
}

export interface ReencryptReport {
  keyVersion: number;
  columns: ColumnReport[];
  /** True when an AbortSignal stopped the run between two batches. */
  aborted: boolean;
}

export interface ReencryptProgress {
  column: string;
  /** Values examined so far in this column, and how many it held at the start. */
  done: number;
  total: number;
}

export interface ReencryptOptions {
  /** Rows read and written per transaction. */
  batchSize: number;
  /** Called at the start of each column and after each batch. */
  onProgress?: (progress: ReencryptProgress) => void;
  /** Stops between two batches; everything committed so far stays. */
  signal?: AbortSignal;
  /** The columns to process; all registered ones by default. */
  columns?: readonly EncryptedColumn[];
}

/**
 * Re-encrypts every value of every registered column under the keyring's current version.
 * Batches go in primary key order, each in one transaction, each row written only if it still
 * holds the value read (compare-and-set). Interrupted at any point (even SIGKILL), the database
 * holds every value either as it was or re-encrypted, both readable with the keyring; a rerun
 * finds the re-encrypted ones current and carries on. Values that do not decrypt are never
 * touched, only reported.
 */
export async function reencryptAll(
  db: Kysely<Database>,
  keyring: Keyring,
  options: ReencryptOptions,
): Promise<ReencryptReport> {
  const { batchSize } = options;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError('batchSize must be a positive integer');
  }
  const repo = new EncryptedColumnsRepository(db);
  const ciphers = new Map<string, FieldCipher>();
  const report: ReencryptReport = {
    keyVersion: keyring.currentVersion,
    columns: [],
    aborted: false,
  };
  for (const column of options.columns ?? encryptedColumns()) {
    let cipher = ciphers.get(column.purpose);
    if (!cipher) ciphers.set(column.purpose, (cipher = new FieldCipher(keyring, column.purpose)));
    const result: ColumnReport = {
      column: column.name,
      examined: 0,
      reencrypted: 0,
      alreadyCurrent: 0,
      changedMeanwhile: 0,
      unreadable: 0,
      unreadableRows: [],
    };
    report.columns.push(result);
    const total = await repo.count(column);
    options.onProgress?.({ column: column.name, done: 0, total });
    let after: string | null = null;
    for (;;) {
      if (options.signal?.aborted) {
        report.aborted = true;
        return report;
      }
      const batch = await repo.batchAfter(column, after, batchSize);
      if (batch.length === 0) break;
      const replacements: EnvelopeReplacement[] = [];
      for (const { id, value } of batch) {
        try {
          const next = cipher.reencrypt(value, fieldContext(column, id));
          if (next === null) result.alreadyCurrent += 1;
          else replacements.push({ id, expected: value, value: next });
        } catch (error) {
          if (!(error instanceof DecryptionError)) throw error;
          result.unreadable += 1;
          if (result.unreadableRows.length < MAX_NAMED_UNREADABLE) {
            result.unreadableRows.push({ id, reason: error.reason });
          }
        }
      }
      const updated = await repo.compareAndSet(column, replacements);
      result.reencrypted += updated.size;
      result.changedMeanwhile += replacements.length - updated.size;
      result.examined += batch.length;
      after = batch[batch.length - 1]!.id;
      options.onProgress?.({ column: column.name, done: result.examined, total });
      // better-sqlite3 is synchronous, so without this the whole run would be one chain of
      // microtasks: signal handlers (Ctrl-C) and other work would wait until it ended.
      await nextTurn();
    }
  }
  return report;
}
