import { randomUUID } from 'node:crypto';
import type { SessionRow, SessionsRepository } from '../db/index.js';
import type { EventContext, SecurityEvents } from '../security-events.js';
import type { SessionState } from './session-state.js';

/** How a session's `amr` methods are joined in its row (RFC 8176 names hold no space). */
const AMR_SEPARATOR = ' ';

/** How a session was signed in (RFC 8176 methods), as `Sessions.start` recorded it. */
export function sessionAmr(session: Pick<SessionRow, 'amr'>): readonly string[] {
  return session.amr === null ? [] : session.amr.split(AMR_SEPARATOR);
}

/**
 * When the user behind a session last proved who they are (the access token's `auth_time`):
 * undefined when unknown, which no recent sign-in window accepts. A password sign-in proved it
 * when the session started. A provider sign-in proved it when the provider last authenticated
 * the user (its ID token's `auth_time`), which may be long before: a provider session in the
 * browser answers a sign-in without asking for anything.
 */
export function sessionSignedInAt(
  session: Pick<SessionRow, 'created_at' | 'identity_id' | 'signed_in_at'>,
): number | undefined {
  if (session.signed_in_at !== null) return session.signed_in_at;
  return session.identity_id === null ? session.created_at : undefined;
}

/** Why a session ended; stored and sent with the session.ended event. */
export type SessionEndReason =
  | 'logout'
  | 'logout_all'
  | 'revoked'
  | 'password_changed'
  | 'password_reset'
  | 'email_changed'
  | 'mfa_enabled'
  | 'mfa_reset'
  | 'identity_unlinked'
  | 'user_deleted'
  | 'user_disabled'
  | 'refresh_reuse';

/** How Sessions.endAll ends every session of a user. */
export interface EndAllOptions {
  /** The session left open (the caller's own, on a password or address change). */
  exceptSessionId?: string;
  /**
   * 'keep': sign-ins in flight stay valid, so a provider sign-in's hand-off code still starts a
   * session. Only for an end made so that the next sign-in gets something afresh, which the
   * exchange does itself: the role in the tokens (a role change), the second factor, which it
   * asks for (MFA turned on). By default every end of all sessions (a logout everywhere, a
   * password change or reset, an address change, an MFA reset, a disabling) is made because
   * whoever is signed in may not be the owner: codes issued before it are refused. Said by the
   * caller, not read off the reason, so that no reason can keep codes alive by accident.
   */
  signInsInFlight?: 'end' | 'keep';
}

export interface SessionsOptions {
  absoluteTtlMs: number;
  /** Announces ended sessions to the other instances (RevocationBus). */
  revocations?: { publish(sessionIds: readonly string[]): void };
  now?: () => number;
}

/**
 * Sessions: one per login, the unit that refresh tokens belong to and that access tokens name in
 * `sid`. Ending one here ends it on this instance at once (SessionState) and on the others as
 * soon as the announcement arrives (RevocationBus).
 */
export class Sessions {
  private readonly now: () => number;

  constructor(
    private readonly repo: SessionsRepository,
    private readonly state: SessionState,
    private readonly events: SecurityEvents,
    private readonly options: SessionsOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /**
   * Starts a session for `userId`, recording how it was signed in (`amr`, RFC 8176 method
   * names) for the access tokens of its whole life, and through which linked provider identity
   * (`identityId`), if any, so that unlinking it ends the session. `signedInAt` is when the user
   * last proved who they are, for a provider sign-in (see SessionsTable.signed_in_at).
   */
  async start(
    userId: string,
    context: EventContext,
    amr: readonly string[] = [],
    identityId?: string,
    signedInAt?: number,
  ): Promise<SessionRow> {
    const now = this.now();
    const session = await this.repo.create({
      id: randomUUID(),
      user_id: userId,
      created_at: now,
      last_used_at: now,
      expires_at: now + this.options.absoluteTtlMs,
      ended_at: null,
      end_reason: null,
      ip: context.ip?.slice(0, 64) ?? null,
      user_agent: context.userAgent?.slice(0, 512) ?? null,
      amr: amr.length === 0 ? null : amr.join(AMR_SEPARATOR),
      identity_id: identityId ?? null,
      // Never after the session's own start: a provider clock ahead of ours proves nothing later.
      signed_in_at: signedInAt === undefined ? null : Math.min(signedInAt, now),
    });
    this.state.markActive(session.id, session.expires_at);
    return session;
  }

  find(sessionId: string): Promise<SessionRow | undefined> {
    return this.repo.findById(sessionId);
  }

  listActive(userId: string): Promise<SessionRow[]> {
    return this.repo.listActive(userId, this.now());
  }

  /** Records a use of the session; false when it has ended (nothing is then recorded). */
  async touch(sessionId: string): Promise<boolean> {
    return this.repo.touch(sessionId, this.now());
  }

  /**
   * Ends one session; false when it had already ended. `cause`, when given, runs only if this
   * call ended it, before its session.ended event: the event of what ended it (a detected
   * refresh-token reuse) comes first in the audit trail, once however many calls raced.
   */
  async end(
    session: { id: string; userId: string },
    reason: SessionEndReason,
    context: EventContext & { actorId?: string | null },
    cause?: () => void,
  ): Promise<boolean> {
    const ended = await this.repo.end(session.id, reason, this.now());
    this.state.markEnded([session.id]);
    this.options.revocations?.publish([session.id]);
    if (ended) {
      cause?.();
      this.events.emit({
        ...context,
        type: 'session.ended',
        outcome: 'success',
        target: { type: 'session', id: session.id },
        details: { reason, userId: session.userId },
      });
    }
    return ended;
  }

  /**
   * Ends every session of a user except `options.exceptSessionId`; returns the ids it ended.
   * Sign-ins in flight end too, unless `options.signInsInFlight` is 'keep': the user's session
   * generation moves on first (SessionsRepository.advanceGeneration).
   */
  async endAll(
    userId: string,
    reason: SessionEndReason,
    context: EventContext & { actorId?: string | null },
    options: EndAllOptions = {},
  ): Promise<string[]> {
    const { exceptSessionId, signInsInFlight = 'end' } = options;
    if (signInsInFlight === 'end') await this.repo.advanceGeneration(userId);
    const ended = await this.repo.endAllForUser(userId, reason, this.now(), exceptSessionId);
    return this.ended(userId, ended, reason, context);
  }

  /**
   * Ends the sessions of a user that linked provider identity `identityId` signed in, except
   * `exceptSessionId`; returns the ids it ended.
   */
  async endSignedInWith(
    userId: string,
    identityId: string,
    context: EventContext & { actorId?: string | null },
    exceptSessionId?: string,
  ): Promise<string[]> {
    const reason: SessionEndReason = 'identity_unlinked';
    const ended = await this.repo.endSignedInWith(
      userId,
      identityId,
      reason,
      this.now(),
      exceptSessionId,
    );
    return this.ended(userId, ended, reason, context);
  }

  /** Revokes sessions just ended in the database, here and on the other instances. */
  private ended(
    userId: string,
    ended: string[],
    reason: SessionEndReason,
    context: EventContext & { actorId?: string | null },
  ): string[] {
    this.state.markEnded(ended);
    if (ended.length > 0) this.options.revocations?.publish(ended);
    if (ended.length > 0) {
      this.events.emit({
        ...context,
        type: 'session.ended',
        outcome: 'success',
        target: { type: 'user', id: userId },
        details: { reason, sessions: ended.length },
      });
    }
    return ended;
  }
}
