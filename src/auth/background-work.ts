import type { Logger } from 'pino';

/** Requests for a reset link waiting for their lookup and mail; beyond this they are dropped. */
const MAX_PENDING = 1_000;

/**
 * The account e-mails' work done after the answer is written (lookups, tokens, e-mails), so
 * that no answer's timing depends on it. Bounded, and waited for on shutdown.
 */
export class BackgroundWork {
  private readonly pending = new Set<Promise<void>>();
  private closed = false;

  constructor(private readonly logger: Pick<Logger, 'warn' | 'error'>) {}

  /**
   * Runs `work` after the answer is written, counted by `idle` and `close`; a failure is logged.
   * Refused (logged) while closing or when too much is pending.
   */
  run(what: string, work: () => Promise<void>): void {
    if (this.closed || this.pending.size >= MAX_PENDING) {
      this.logger.warn({ what }, 'account e-mail work refused: shutting down or too many pending');
      return;
    }
    // Started after the answer is written (setImmediate runs after the I/O of this turn): no
    // lookup, token or e-mail of the request's account can lengthen the answer, so its timing
    // says nothing about whether the account exists.
    const job: Promise<void> = new Promise<void>((resolve) => setImmediate(resolve))
      .then(work)
      .catch((error: unknown) => {
        this.logger.error({ err: error, what }, 'account e-mail work failed');
      })
      .finally(() => this.pending.delete(job));
    this.pending.add(job);
  }

  /** Resolves when no work is pending, including work started by the work waited for. */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  /** Refuses new work from now on and waits for the work already pending. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.pending]);
  }
}
