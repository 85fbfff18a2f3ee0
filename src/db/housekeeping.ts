import type { Kysely } from 'kysely';
import type { Database } from './types.js';

export interface HousekeepingOptions {
  /**
   * Ended or expired sessions (with their refresh tokens), expired e-mail links and signing keys
   * that stopped verifying are deleted this long after they ended or expired, in milliseconds.
   */
  retentionMs: number;
  /** Rows deleted per statement: short transactions, so logins and refreshes never wait long. */
  batchSize?: number;
  /** Statements per table and run; the next run carries on. */
  maxBatches?: number;
  now?: () => number;
}

/** What one {@link Housekeeping.run} deleted. */
export interface PruneResult {
  sessions: number;
  emailTokens: number;
  signingKeys: number;
}

/**
 * Deletes what no longer serves anyone. Every refresh rotates the refresh token and keeps the
 * used one (a replay of it must be recognised to end the session), so the tables grow by one row
 * per refresh of every active session: about a hundred a day for a user who keeps an app open.
 * Once its session has ended or expired such a row answers nothing a missing row would not
 * (a replay is refused either way), so it goes after the retention period, and with it the
 * session. What happened stays in the audit log, which is never pruned here.
 *
 * Safe on several instances at once: each statement deletes only rows past the cutoff, so two
 * instances deleting together just share the work.
 */
export class Housekeeping {
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly options: HousekeepingOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /** Deletes one round of what is past the retention period (bounded by maxBatches). */
  async run(): Promise<PruneResult> {
    const cutoff = this.now() - this.options.retentionMs;
    const sessions = await this.inBatches((limit) =>
      this.db
        .deleteFrom('sessions')
        .where('id', 'in', (qb) =>
          qb
            .selectFrom('sessions')
            .select('id')
            .where((eb) => eb.or([eb('ended_at', '<', cutoff), eb('expires_at', '<', cutoff)]))
            .limit(limit),
        )
        .executeTakeFirst(),
    );
    const emailTokens = await this.inBatches((limit) =>
      this.db
        .deleteFrom('email_tokens')
        .where('id', 'in', (qb) =>
          qb.selectFrom('email_tokens').select('id').where('expires_at', '<', cutoff).limit(limit),
        )
        .executeTakeFirst(),
    );
    // Signing keys that stopped verifying: no token they signed can be alive, and their private
    // halves, wrapped under the master key, would only add to what a key leak exposes. A few rows
    // a year; the current key and those still verifying have no expiry before the cutoff.
    const deletedKeys = await this.db
      .deleteFrom('signing_keys')
      .where('expires_at', '<', cutoff)
      .executeTakeFirst();
    return { sessions, emailTokens, signingKeys: Number(deletedKeys.numDeletedRows) };
  }

  /**
   * Runs after `firstDelayMs`, then every `intervalMs` (both spread by up to a tenth, so
   * instances started together do not run together); reports each run. The timer never keeps
   * the process up.
   */
  start(
    timing: { firstDelayMs: number; intervalMs: number },
    report: (outcome: { result?: PruneResult; error?: unknown }) => void,
  ): void {
    if (this.timer) return;
    const schedule = (ms: number): void => {
      this.timer = setTimeout(
        () => {
          this.running = this.run()
            .then((result) => report({ result }))
            .catch((error: unknown) => report({ error }))
            .finally(() => {
              this.running = undefined;
              if (this.timer) schedule(timing.intervalMs);
            });
        },
        ms + Math.floor(Math.random() * (ms / 10)),
      );
      this.timer.unref();
    };
    schedule(timing.firstDelayMs);
  }

  /** Stops the timer and waits for a run in progress (the database closes after this). */
  async close(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private async inBatches(
    remove: (limit: number) => Promise<{ numDeletedRows: bigint }>,
  ): Promise<number> {
    const size = this.options.batchSize ?? 1_000;
    let total = 0;
    for (let batch = 0; batch < (this.options.maxBatches ?? 100); batch += 1) {
      const deleted = Number((await remove(size)).numDeletedRows);
      total += deleted;
      if (deleted < size) break;
    }
    return total;
  }
}
