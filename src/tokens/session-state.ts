import type { SessionsRepository } from '../db/index.js';
import { BoundedCache } from './bounded-cache.js';

interface Entry {
  active: boolean;
  /** For active entries: when to ask the database again. */
  recheckAt: number;
  /**
   * The session's absolute expiry. Checked on every hit: a cached "active" must not outlive the
   * session by up to `activeTtlMs`.
   */
  expiresAt: number;
}

export interface SessionStateOptions {
  /** Sessions remembered per instance. */
  capacity?: number;
  /** How long "active" is trusted before the database is asked again. */
  activeTtlMs?: number;
  now?: () => number;
}

/**
 * Whether a session is still active, answered from memory on the hot path so verifying an access
 * token costs no database query. Ending a session through Sessions updates this cache at once,
 * so its access tokens stop working immediately on this instance; the database is the authority
 * on a miss. "Active" answers are re-checked after `activeTtlMs` to bound staleness when another
 * process ends a session and its announcement (RevocationBus) was lost.
 */
export class SessionState {
  private readonly cache: BoundedCache<string, Entry>;
  private readonly now: () => number;
  private readonly activeTtlMs: number;

  constructor(
    private readonly repo: SessionsRepository,
    options: SessionStateOptions = {},
  ) {
    this.cache = new BoundedCache(options.capacity ?? 50_000);
    this.now = options.now ?? Date.now;
    this.activeTtlMs = options.activeTtlMs ?? 30_000;
  }

  async isActive(sessionId: string): Promise<boolean> {
    const known = this.knownState(sessionId);
    if (known !== undefined) return known;
    const now = this.now();
    const row = await this.repo.findById(sessionId);
    const active = row !== undefined && row.ended_at === null && row.expires_at > now;
    // An ended marker now can only have been set while the row was being read (knownState
    // answers for one that was there before): the session ended meanwhile (a logout racing this
    // request, a revocation announced by another instance), and the row may predate that. The
    // marker wins; writing "active" over it would let the session's tokens back in until the
    // next re-check.
    if (this.cache.get(sessionId)?.active === false) return false;
    this.cache.set(sessionId, {
      active,
      recheckAt: now + this.activeTtlMs,
      expiresAt: row?.expires_at ?? Number.NEGATIVE_INFINITY,
    });
    return active;
  }

  /**
   * The answer of {@link isActive} when memory alone can give it (synchronously), undefined when
   * the database must be asked. Same rules: an ended session stays ended, an active one is
   * trusted until its re-check time and never past its own expiry.
   */
  knownState(sessionId: string): boolean | undefined {
    const cached = this.cache.get(sessionId);
    if (cached === undefined) return undefined;
    const now = this.now();
    if (cached.active && cached.expiresAt <= now) {
      this.markEnded([sessionId]);
      return false;
    }
    if (!cached.active || cached.recheckAt > now) return cached.active;
    return undefined;
  }

  /** Records that sessions ended; their tokens are refused from now on. */
  markEnded(sessionIds: readonly string[]): void {
    for (const id of sessionIds)
      this.cache.set(id, {
        active: false,
        recheckAt: Number.POSITIVE_INFINITY,
        expiresAt: Number.NEGATIVE_INFINITY,
      });
  }

  /**
   * Forgets every cached answer, so the next check of each session asks the database. Used after
   * the shared store reconnects: revocations published meanwhile may have been missed.
   */
  forgetActive(): void {
    this.cache.clear();
  }

  /** Records a session that just started, sparing the first request a database read. */
  markActive(sessionId: string, expiresAt = Number.POSITIVE_INFINITY): void {
    this.cache.set(sessionId, {
      active: true,
      recheckAt: this.now() + this.activeTtlMs,
      expiresAt,
    });
  }
}
