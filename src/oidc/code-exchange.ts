import type { Logger } from 'pino';
import { accountDisabled, type AuthService, type TokenPair } from '../auth/auth-service.js';
import type { IdentitiesRepository, UsersRepository } from '../db/index.js';
import { AppError, isAppError } from '../errors.js';
import type { EventContext, SecurityEvents } from '../security-events.js';
import type { User } from '../users/schema.js';
import type { UsersService } from '../users/users-service.js';
import type { Sessions } from '../tokens/sessions.js';
import type { AccountEmailService } from '../auth/account-email-service.js';
import type { HandoffCodes } from './handoff-codes.js';

export interface CodeExchangeDeps {
  handoff: Pick<HandoffCodes, 'redeem'>;
  identities: Pick<IdentitiesRepository, 'findById'>;
  usersRepo: Pick<UsersRepository, 'findById'>;
  users: Pick<UsersService, 'view'>;
  auth: Pick<AuthService, 'requireSecondFactor' | 'startSession'>;
  sessions: Pick<Sessions, 'end'>;
  /** Tells owners of sign-ins from new networks, when e-mail is configured. */
  notices?: Pick<AccountEmailService, 'noticeIfNewSignIn'> | undefined;
  /** Where a failure to hold a code for MFA is reported (it never fails the request). */
  logger?: Pick<Logger, 'warn'> | undefined;
  events: SecurityEvents;
}

/**
 * How long a one-time code stays redeemable, by the same browser, after an exchange answered
 * mfa_required or invalid_otp: time to open the authenticator app and type a code.
 */
export const MFA_HOLD_SECONDS = 5 * 60;
const MFA_HOLD_MS = MFA_HOLD_SECONDS * 1000;

/** Refusals of an exchange after which its code is held for another try with an MFA code. */
export const MFA_RETRY_CODES: ReadonlySet<string> = new Set([
  'mfa_required',
  'invalid_otp',
  'rate_limited',
]);

/**
 * The last step of a provider sign-in: the front end redeems the one-time code of the callback,
 * from the browser it was issued to, for the normal token pair. An account with MFA on shows
 * its own second factor here too.
 */
export class CodeExchange {
  constructor(private readonly deps: CodeExchangeDeps) {}

  /**
   * Redeems a one-time code from the same browser for the normal token pair. For a user with
   * MFA on it also takes `mfaCode`: without a valid one the answer is mfa_required or
   * invalid_otp, and the code stays redeemable by the same browser for MFA_HOLD_MS.
   */
  async exchange(
    code: string,
    browserSecret: string | undefined,
    context: EventContext,
    mfaCode?: string,
  ): Promise<TokenPair & { user: User }> {
    const result = await this.deps.handoff.redeem(code, browserSecret);
    if (!result.ok) {
      this.deps.events.emit({
        ...context,
        type: 'oidc.code_rejected',
        outcome: 'denied',
        details: { reason: result.reason },
      });
      throw codeInvalid();
    }
    const { userId, provider, identityId, generation, authTime } = result.handoff;
    // Unlinked since the sign-in (perhaps by an owner who saw an unexpected one): the code
    // stood for that provider account, which no longer signs in here.
    const identity = await this.deps.identities.findById(identityId);
    if (identity?.user_id !== userId) {
      this.rejected(context, userId, 'identity_gone');
      throw codeInvalid();
    }
    const user = await this.deps.usersRepo.findById(userId);
    if (!user || user.disabled === 1) {
      this.rejected(context, userId, user ? 'disabled' : 'user_gone');
      if (!user) throw new AppError('oidc_code_invalid', 'The account no longer exists.');
      throw accountDisabled();
    }
    // Every session of the account ended since the sign-in (a logout everywhere, a password
    // change or reset, an MFA reset, a disabling undone since): the code was a session in all
    // but name, and whoever ended them may have done so against whoever holds it.
    if (user.session_generation !== generation) {
      this.rejected(context, userId, 'sessions_ended');
      throw codeInvalid();
    }
    // A failure to put the code back leaves the sign-in to start again; never a 500.
    const hold = () =>
      result.holdFor(MFA_HOLD_MS).catch((error: unknown) => {
        this.deps.logger?.warn({ err: error }, 'holding a sign-in code for MFA failed');
      });
    // The provider's own methods are not known here; the account's second factor is.
    const amr = user.mfa_enabled === 1 ? ['otp', 'mfa'] : [];
    if (user.mfa_enabled === 1) {
      try {
        // The provider vouches for the first factor only: the account's own second factor is
        // asked for too, or MFA would be one linked provider account away from bypassed.
        await this.deps.auth.requireSecondFactor(user, mfaCode, context);
      } catch (error) {
        if (isAppError(error) && MFA_RETRY_CODES.has(error.code)) await hold();
        throw error;
      }
    }
    let started: Awaited<ReturnType<AuthService['startSession']>>;
    try {
      // Disabled or deleted since the read above: startSession reads the user again.
      started = await this.deps.auth.startSession(
        user,
        context,
        () => new AppError('oidc_code_invalid', 'The account no longer exists.'),
        amr,
        identityId,
        authTime,
      );
    } catch (error) {
      // MFA turned on or reset since the read above (startSession ended the session): the
      // code is held for a try with the account's factor as it is now.
      if (isAppError(error) && MFA_RETRY_CODES.has(error.code)) {
        await hold();
      } else if (isAppError(error)) {
        this.rejected(
          context,
          userId,
          error.code === 'account_disabled' ? 'disabled' : 'user_gone',
        );
      }
      throw error;
    }
    // Every session ended while this one started: read after the insert (startSession), the
    // generation is either moved on already (this session ends here, whether or not that end
    // found it) or moved on later, and the end that follows finds this session.
    if (started.user.session_generation !== generation) {
      await this.deps.sessions.end({ id: started.sessionId, userId }, 'revoked', context);
      this.rejected(context, userId, 'sessions_ended');
      throw codeInvalid();
    }
    // Unlinked while the session started: the unlink ended the sessions this identity had
    // signed in before this one existed. Read after the insert, the identity is either gone
    // (this session ends here) or unlinked later (and that unlink finds this session).
    if ((await this.deps.identities.findById(identityId))?.user_id !== userId) {
      await this.deps.sessions.end({ id: started.sessionId, userId }, 'identity_unlinked', context);
      this.rejected(context, userId, 'identity_gone');
      throw codeInvalid();
    }
    this.deps.events.emit({
      ...context,
      type: 'oidc.code_exchanged',
      outcome: 'success',
      actorId: user.id,
      target: { type: 'session', id: started.sessionId },
      details: { provider, identityId },
    });
    this.deps.notices?.noticeIfNewSignIn(started.user, started.session);
    return { ...started.pair, user: this.deps.users.view(started.user) };
  }

  /** Records why the code of `userId`'s sign-in was refused (clients get one answer for all). */
  private rejected(context: EventContext, userId: string, reason: string): void {
    this.deps.events.emit({
      ...context,
      type: 'oidc.code_rejected',
      outcome: 'denied',
      target: { type: 'user', id: userId },
      details: { reason },
    });
  }
}

/** The one answer to a code that cannot be redeemed, whatever the reason (told apart in events). */
function codeInvalid(): AppError {
  return new AppError(
    'oidc_code_invalid',
    'The sign-in code is unknown, expired, already used or was issued to another browser. Sign in again.',
  );
}
