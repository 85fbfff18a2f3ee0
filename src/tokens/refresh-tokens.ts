import { randomUUID } from 'node:crypto';
import { randomToken, sha256Hex } from '../crypto/index.js';
import type { RefreshTokensRepository, SessionRow } from '../db/index.js';
import { AppError } from '../errors.js';
import type { EventContext, SecurityEvents } from '../security-events.js';
import type { Sessions } from './sessions.js';

export interface RefreshTokensOptions {
  idleTtlMs: number;
  /** A rotated token presented again within this window is refused, but the session survives. */
  reuseGraceMs: number;
  now?: () => number;
}

/** Refresh tokens are 256-bit random strings with a recognisable prefix (secret scanners find leaks). */
const PREFIX = 'bwr_';
const SHAPE = /^bwr_[A-Za-z0-9_-]{43}$/;

function invalidRefreshToken(reason: string): AppError {
  return new AppError(
    'invalid_refresh_token',
    'The refresh token is invalid, expired or already used.',
    {
      cause: new Error(reason),
    },
  );
}

/**
 * Opaque refresh tokens: stored only as SHA-256 hashes, bound to a session, rotated on every use.
 * Presenting an already-rotated token outside the grace window means it was stolen (or the thief
 * already used it): the whole session is ended and `refresh.reused` is emitted.
 * @see https://datatracker.ietf.org/doc/html/draft-ietf-oauth-security-topics#section-4.14
 */
export class RefreshTokens {
  private readonly now: () => number;

  constructor(
    private readonly repo: RefreshTokensRepository,
    private readonly sessions: Sessions,
    private readonly events: SecurityEvents,
    private readonly options: RefreshTokensOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /** Creates the first refresh token of a session. */
  async issue(session: SessionRow): Promise<string> {
    const token = PREFIX + randomToken(32);
    await this.repo.insert(this.row(token, session));
    return token;
  }

  /**
   * Exchanges `token` for a new one. Exactly one of several concurrent exchanges of the same
   * token wins (an atomic conditional update).
   * @throws AppError invalid_refresh_token
   */
  async rotate(
    token: string,
    context: EventContext,
  ): Promise<{ token: string; session: SessionRow }> {
    if (!SHAPE.test(token)) throw invalidRefreshToken('malformed');
    const stored = await this.repo.findByHash(sha256Hex(token));
    if (!stored) throw invalidRefreshToken('unknown');
    const now = this.now();
    const session = await this.sessions.find(stored.session_id);
    if (!session || session.ended_at !== null) throw invalidRefreshToken('session ended');

    if (stored.used_at !== null) {
      if (now - stored.used_at <= this.options.reuseGraceMs)
        throw invalidRefreshToken('reused within grace');
      await this.reuseDetected(session, context);
      throw invalidRefreshToken('reused');
    }
    if (stored.expires_at <= now) throw invalidRefreshToken('idle expiry');
    if (session.expires_at <= now) throw invalidRefreshToken('session expired');

    const next = PREFIX + randomToken(32);
    const won = await this.repo.rotate(stored.id, this.row(next, session), now);
    // Lost the race to a concurrent exchange of the same token: a retry, not a theft.
    if (!won) throw invalidRefreshToken('concurrent rotation');
    // A logout (or an admin's revocation) that landed between the session read above and the
    // rotation ended the session: the new pair would be dead on arrival, so it is not handed out.
    // A session ended after this point is a logout that came after the refresh, as it should.
    if (!(await this.sessions.touch(session.id)))
      throw invalidRefreshToken('session ended during rotation');
    return { token: next, session };
  }

  /**
   * Ends the session of a replayed token. Replays that arrive together (a thief's retries, or
   * the thief and the owner at once) all read the session as active; only the one that ends it
   * records the detection, so one theft is one refresh.reused (and one alert), just before the
   * session.ended it causes. A session that something else (a logout) ended meanwhile still gets
   * its detection recorded: the replay is a theft signal all the same.
   */
  private async reuseDetected(session: SessionRow, context: EventContext): Promise<void> {
    const detected = () =>
      this.events.emit({
        ...context,
        type: 'refresh.reused',
        outcome: 'denied',
        target: { type: 'session', id: session.id },
        details: { userId: session.user_id },
      });
    const ended = await this.sessions.end(
      { id: session.id, userId: session.user_id },
      'refresh_reuse',
      context,
      detected,
    );
    if (!ended && (await this.sessions.find(session.id))?.end_reason !== 'refresh_reuse') {
      detected();
    }
  }

  private row(token: string, session: SessionRow) {
    const now = this.now();
    return {
      id: randomUUID(),
      session_id: session.id,
      token_hash: sha256Hex(token),
      created_at: now,
      // Never outlives the session's absolute lifetime.
      expires_at: Math.min(now + this.options.idleTtlMs, session.expires_at),
      used_at: null,
      replaced_by: null,
    };
  }
}
