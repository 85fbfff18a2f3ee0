import type { AuthContext } from '../access/authenticate.js';
import type { PasswordHasher } from '../crypto/index.js';
import type { SessionRow, UserRow, UsersRepository } from '../db/index.js';
import { AppError, isAppError } from '../errors.js';
import type { EventContext, SecurityEvents } from '../security-events.js';
import type { AccessTokens } from '../tokens/access-token.js';
import type { RefreshTokens } from '../tokens/refresh-tokens.js';
import { sessionAmr, sessionSignedInAt, type Sessions } from '../tokens/sessions.js';
import { canonicalEmail } from '../users/normalize.js';
import type { User } from '../users/schema.js';
import type { UsersService } from '../users/users-service.js';
import type { AccountEmailService } from './account-email-service.js';
import type { LoginAttempt, LoginThrottle } from './login-throttle.js';
import type { MfaService } from './mfa-service.js';
import { PasswordChange } from './password-change.js';
import { invalidMfaCode, mfaRequired } from './second-factor-check.js';

export interface AuthServiceDeps {
  users: UsersService;
  repo: UsersRepository;
  hasher: PasswordHasher;
  sessions: Sessions;
  accessTokens: AccessTokens;
  refreshTokens: RefreshTokens;
  events: SecurityEvents;
  /** Brute-force throttling of logins and password changes; counted before the password is checked. */
  throttle: Pick<LoginThrottle, 'begin'>;
  /** Account e-mails, when configured: the verification e-mail after a sign-up. */
  accountEmail?:
    | Pick<AccountEmailService, 'sendVerification' | 'notifyPasswordChanged' | 'noticeIfNewSignIn'>
    | undefined;
  /** The second factor of accounts with MFA on. */
  mfa: Pick<MfaService, 'verifyCode'>;
  defaultRole: string;
  now?: () => number;
}

export interface TokenPair {
  accessToken: string;
  tokenType: 'Bearer';
  expiresIn: number;
  refreshToken: string;
}

/** The refusal of a sign-in (password or provider) to an account an administrator disabled. */
export function accountDisabled(): AppError {
  return new AppError(
    'account_disabled',
    'This account has been disabled. Contact an administrator.',
  );
}

/** The login.failed reason of a sign-in refused once its session had started. */
const STARTED_LATE: Partial<Record<string, string>> = {
  account_disabled: 'disabled',
  invalid_otp: 'mfa_reset',
};

function invalidCredentials(): AppError {
  // One answer for "no such email" and "wrong password": nothing to enumerate accounts with.
  return new AppError('invalid_credentials', 'The email or password is incorrect.');
}

/**
 * Registration, login, refresh, logout and password change. Logins never reveal whether an email
 * exists: an unknown email still pays for one password verification, so status, body and timing
 * match a wrong password.
 */
export class AuthService {
  private readonly now: () => number;
  private readonly passwordChange: PasswordChange;

  constructor(private readonly deps: AuthServiceDeps) {
    this.now = deps.now ?? Date.now;
    this.passwordChange = new PasswordChange(deps);
  }

  async register(
    input: { email: string; password: string; name: string },
    context: EventContext,
  ): Promise<User> {
    const row = await this.deps.users.create({ ...input, role: this.deps.defaultRole }, context);
    this.deps.accountEmail?.sendVerification(row, context);
    return this.deps.users.view(row);
  }

  async login(
    input: { email: string; password: string; mfaCode?: string },
    context: EventContext,
  ): Promise<TokenPair & { user: User }> {
    const email = canonicalEmail(input.email);
    // Looked up first so a throttled attempt's event names the account; the throttle counts
    // known and unknown emails alike, and the 429 says nothing either way.
    const row = await this.deps.repo.findByEmail(email);
    const attempt = await this.deps.throttle.begin(email, context, row?.id ?? null);
    if (!row?.password_hash) {
      await this.deps.hasher.verifyDummy(input.password);
      this.loginFailed(context, row?.id ?? null, row ? 'no_password' : 'unknown_email');
      throw invalidCredentials();
    }
    const { ok, needsRehash } = await this.deps.hasher.verify(row.password_hash, input.password);
    if (!ok) {
      this.loginFailed(context, row.id, 'wrong_password');
      throw invalidCredentials();
    }
    if (row.disabled === 1) {
      this.loginFailed(context, row.id, 'disabled');
      throw accountDisabled();
    }
    // The attempt stays counted until the second factor passes too, and every code is also
    // counted by the account's own wrong-code limit: knowing the password buys no fast guessing.
    const amr = ['pwd'];
    if (row.mfa_enabled === 1) {
      await this.secondFactor(row, input.mfaCode, context, attempt);
      amr.push('otp', 'mfa');
    }
    await attempt.succeeded();
    const verifiedHash = needsRehash
      ? await this.upgradeHash(row, input.password)
      : row.password_hash;

    let started: Awaited<ReturnType<AuthService['startSession']>>;
    try {
      started = await this.startSession(row, context, invalidCredentials, amr);
    } catch (error) {
      // Disabled, deleted, or MFA turned on or reset while the password was checked.
      if (isAppError(error)) {
        if (error.code === 'mfa_required') this.mfaChallenged(context, row.id);
        else this.loginFailed(context, row.id, STARTED_LATE[error.code] ?? 'unknown_email');
      }
      throw error;
    }
    // The password was checked against the hash read before; a password change that completed
    // meanwhile ended "every other session" before this one existed, so the old password would
    // keep a session past it. A different hash now is checked again (it may only be an upgrade
    // made by a concurrent login, of the same password).
    const currentHash = started.user.password_hash;
    if (
      currentHash !== verifiedHash &&
      !(currentHash !== null && (await this.deps.hasher.verify(currentHash, input.password)).ok)
    ) {
      await this.deps.sessions.end(
        { id: started.sessionId, userId: row.id },
        'password_changed',
        context,
      );
      this.loginFailed(context, row.id, 'wrong_password');
      throw invalidCredentials();
    }
    this.deps.events.emit({
      ...context,
      type: 'login.succeeded',
      outcome: 'success',
      actorId: row.id,
      target: { type: 'session', id: started.sessionId },
    });
    this.deps.accountEmail?.noticeIfNewSignIn(started.user, started.session);
    return { ...started.pair, user: this.deps.users.view(started.user) };
  }

  /**
   * Starts a session for a user whose identity has been proven (a password, an OpenID Connect
   * sign-in) and issues its token pair. The caller checks `disabled` first and records its own
   * success event.
   *
   * The user row is read again once the session exists. An administrator disables or demotes a
   * user by changing its row and then ending its sessions; a sign-in that read the row before
   * that change (a password check takes a while) would otherwise start its session after the
   * sessions were ended, with the old role in its token. The same holds for MFA turned on (the
   * sign-in showed no second factor: mfa_required) or reset (the factor it showed is gone:
   * invalid_otp) meanwhile. Read after the insert, the row is
   * either already changed (refused here, or the new role is used) or changed later, and ending
   * the sessions then finds this one.
   * @param gone the error when the user no longer exists
   * @param amr how the user signed in (RFC 8176 methods), for the `amr` claim of its tokens
   * @param identityId the linked provider identity it signed in through, if any
   * @param signedInAt with `identityId`: when the provider last authenticated the user (epoch
   *   ms), undefined when it did not say (the session's tokens then never count as recent)
   * @throws AppError account_disabled, mfa_required, invalid_otp, or `gone()`
   */
  async startSession(
    user: UserRow,
    context: EventContext,
    gone: () => AppError,
    amr: readonly string[] = [],
    identityId?: string,
    signedInAt?: number,
  ): Promise<{ pair: TokenPair; sessionId: string; user: UserRow; session: SessionRow }> {
    let session: SessionRow;
    try {
      session = await this.deps.sessions.start(user.id, context, amr, identityId, signedInAt);
    } catch (error) {
      // Deleted meanwhile: the session's foreign key has nothing to point at.
      if (!(await this.deps.repo.findById(user.id))) throw gone();
      throw error;
    }
    const current = await this.deps.repo.findById(user.id);
    if (!current || current.disabled === 1) {
      await this.deps.sessions.end(
        { id: session.id, userId: user.id },
        current ? 'user_disabled' : 'user_deleted',
        context,
      );
      throw current ? accountDisabled() : gone();
    }
    // MFA turned on since `user` was read: this sign-in has not shown a second factor. Or
    // turned off (an administrator's reset, which ends every session): the factor it showed is
    // gone, so its session must not outlive the reset, nor its tokens claim `mfa`.
    if ((current.mfa_enabled === 1) !== (user.mfa_enabled === 1)) {
      await this.deps.sessions.end({ id: session.id, userId: user.id }, 'revoked', context);
      throw current.mfa_enabled === 1 ? mfaRequired() : invalidMfaCode();
    }
    return {
      pair: await this.pair(current, session),
      sessionId: session.id,
      user: current,
      session,
    };
  }

  async refresh(refreshToken: string, context: EventContext): Promise<TokenPair> {
    const { token, session } = await this.deps.refreshTokens.rotate(refreshToken, context);
    const user = await this.deps.repo.findById(session.user_id);
    if (!user || user.disabled === 1) {
      await this.deps.sessions.end(
        { id: session.id, userId: session.user_id },
        'user_disabled',
        context,
      );
      throw new AppError(
        'invalid_refresh_token',
        'The refresh token is invalid, expired or already used.',
      );
    }
    return this.pair(user, session, token);
  }

  async logout(auth: AuthContext, context: EventContext): Promise<void> {
    await this.deps.sessions.end({ id: auth.sessionId, userId: auth.userId }, 'logout', {
      ...context,
      actorId: auth.userId,
    });
  }

  async logoutAll(auth: AuthContext, context: EventContext): Promise<void> {
    await this.deps.sessions.endAll(auth.userId, 'logout_all', {
      ...context,
      actorId: auth.userId,
    });
  }

  async listSessions(auth: AuthContext): Promise<SessionRow[]> {
    return this.deps.sessions.listActive(auth.userId);
  }

  /** Ends one of the caller's own sessions; anyone else's is 404. */
  async endSession(auth: AuthContext, sessionId: string, context: EventContext): Promise<void> {
    const session = await this.deps.sessions.find(sessionId);
    if (!session || session.user_id !== auth.userId || session.ended_at !== null) {
      if (session && session.user_id !== auth.userId) {
        this.deps.events.emit({
          ...context,
          type: 'access.denied',
          outcome: 'denied',
          actorId: auth.userId,
          target: { type: 'session', id: sessionId },
          details: { status: 404, reason: 'not_owner' },
        });
      }
      throw new AppError('not_found', 'No session with this id.');
    }
    await this.deps.sessions.end({ id: sessionId, userId: auth.userId }, 'revoked', {
      ...context,
      actorId: auth.userId,
    });
  }

  /** Changes the caller's password after checking the current one; every other session ends. */
  changePassword(
    auth: AuthContext,
    input: { currentPassword: string; newPassword: string },
    context: EventContext,
  ): Promise<void> {
    return this.passwordChange.change(auth, input, context);
  }

  /** The access token for this user and session, with `refreshToken` or a newly issued one. */
  private async pair(
    user: UserRow,
    session: SessionRow,
    refreshToken?: string,
  ): Promise<TokenPair> {
    return {
      accessToken: await this.deps.accessTokens.issue({
        userId: user.id,
        sessionId: session.id,
        role: user.role,
        amr: sessionAmr(session),
        signedInAt: sessionSignedInAt(session),
      }),
      tokenType: 'Bearer',
      expiresIn: this.deps.accessTokens.ttlSeconds,
      refreshToken: refreshToken ?? (await this.deps.refreshTokens.issue(session)),
    };
  }

  /**
   * Rehashes with the current argon2id parameters (and upgrades bcrypt); a failure never fails
   * the login. Returns the hash now stored (the old one when the upgrade failed).
   */
  private async upgradeHash(row: UserRow, password: string): Promise<string | null> {
    if (row.password_hash === null) return null;
    try {
      const upgraded = await this.deps.hasher.hash(password);
      // Only over the hash that was verified: a password changed meanwhile stays changed.
      return (await this.deps.repo.replacePasswordHash(row.id, row.password_hash, upgraded))
        ? upgraded
        : row.password_hash;
    } catch {
      // The next login tries again.
      return row.password_hash;
    }
  }

  /**
   * The second factor of a sign-in whose first factor came from elsewhere (an OpenID Connect
   * provider), for a user with MFA on: counted by the failed-login throttle like a login.
   * @throws AppError mfa_required, invalid_otp or rate_limited
   */
  async requireSecondFactor(
    row: UserRow,
    mfaCode: string | undefined,
    context: EventContext,
  ): Promise<void> {
    const attempt = await this.deps.throttle.begin(row.email, context, row.id);
    await this.secondFactor(row, mfaCode, context, attempt);
    await attempt.succeeded();
  }

  /**
   * Throws mfa_required or invalid_otp unless `mfaCode` is a valid second factor now. Without a
   * code the sign-in's attempt is refunded (the first step of every MFA sign-in is no failure);
   * a code is counted by the account's wrong-code limit (MfaService.verifyCode).
   */
  private async secondFactor(
    row: UserRow,
    mfaCode: string | undefined,
    context: EventContext,
    attempt: LoginAttempt,
  ): Promise<void> {
    if (mfaCode === undefined) {
      await attempt.refund();
      this.mfaChallenged(context, row.id);
      throw mfaRequired();
    }
    const result = await this.deps.mfa.verifyCode(row, mfaCode, context);
    if (result.ok) return;
    this.loginFailed(context, row.id, result.reason);
    throw invalidMfaCode();
  }

  private mfaChallenged(context: EventContext, userId: string): void {
    this.deps.events.emit({
      ...context,
      type: 'mfa.challenged',
      outcome: 'success',
      target: { type: 'user', id: userId },
    });
  }

  private loginFailed(context: EventContext, userId: string | null, reason: string): void {
    this.deps.events.emit({
      ...context,
      type: 'login.failed',
      outcome: 'failure',
      target: userId ? { type: 'user', id: userId } : null,
      details: { reason },
    });
  }
}
