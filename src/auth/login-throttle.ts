import { createHash } from 'node:crypto';
import { RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Config } from '../config/index.js';
import { AppError } from '../errors.js';
import { clientKey, rateLimitHeaders, storeUnavailable } from '../rate-limit/index.js';
import type { EventContext, SecurityEvent, SecurityEvents } from '../security-events.js';
import type { SharedStore } from '../store/index.js';

/** Which brute-force limit stopped a login. */
export type ThrottleScope = 'account_client' | 'client' | 'account' | 'account_mfa';

/** One login attempt that passed the throttle; report its outcome exactly once. */
export interface LoginAttempt {
  /** The sign-in succeeded: its points are given back and its account+client count cleared. */
  succeeded(): Promise<void>;
  /**
   * The attempt proved the password but was not a guess of anything else (a sign-in of an
   * account with MFA on, sent without a code): only its own point is given back, so the first
   * step of every MFA sign-in is not counted as a failure, and clears nothing.
   */
  refund(): Promise<void>;
}

/** One check of an MFA code, counted before it is made; report a right code. */
export interface SecondFactorAttempt {
  succeeded(): Promise<void>;
}

/**
 * Brute-force throttling of logins, in the shared store so it holds across instances
 * (docs/security.md "Rate limits and brute force" states the policy and its trade-offs):
 *
 * 1. account + client: `accountClientFailures` failures per window, then 429 until it ends;
 * 2. client across accounts (credential stuffing): `clientFailures` per window;
 * 3. account across clients (distributed guessing): after `accountFreeFailures`, attempts are
 *    spaced by a delay that doubles from 1 s up to `accountMaxDelaySeconds` — slowing an attack
 *    without ever locking the owner out for longer than that.
 *
 * Every attempt is counted *before* the password is checked, by an atomic increment, so a burst
 * of parallel guesses cannot slip more than the limit through; a successful login gives its
 * points back and clears its account+client count. Unknown emails are throttled exactly like
 * known ones, so the throttle reveals nothing about which accounts exist.
 */
export class LoginThrottle {
  private readonly accountClient: RateLimiterAbstract;
  private readonly client: RateLimiterAbstract;
  private readonly account: RateLimiterAbstract;
  private readonly accountGate: RateLimiterAbstract;
  private readonly accountMfa: RateLimiterAbstract;

  constructor(
    store: SharedStore,
    private readonly config: Config['rateLimit']['login'],
    private readonly events: SecurityEvents,
  ) {
    this.accountClient = store.counter({
      name: 'login-account-client',
      points: config.accountClientFailures,
      durationSeconds: config.accountClientWindowSeconds,
    });
    this.client = store.counter({
      name: 'login-client',
      points: config.clientFailures,
      durationSeconds: config.clientWindowSeconds,
    });
    this.account = store.counter({
      name: 'login-account',
      points: config.accountFreeFailures,
      durationSeconds: config.accountWindowSeconds,
    });
    this.accountMfa = store.counter({
      name: 'login-account-mfa',
      points: config.mfaFailures,
      durationSeconds: config.mfaWindowSeconds,
    });
    // One attempt per delay period; each key's lifetime is the delay chosen when it was created.
    this.accountGate = store.counter({
      name: 'login-account-gate',
      points: 1,
      durationSeconds: config.accountMaxDelaySeconds,
    });
  }

  /**
   * Counts an attempt for `email` from the request's client; throws 429 rate_limited (or 503
   * when the store failed closed) when a limit is reached. Call before checking the password.
   * `userId` is the account the email belongs to, if any: the `login.throttled` event names it
   * as its target (like `login.failed`), so an alert says which account is under attack. The
   * client never sees it, and unknown emails are counted exactly the same.
   */
  async begin(
    email: string,
    context: EventContext,
    userId: string | null = null,
  ): Promise<LoginAttempt> {
    const account = accountKey(email);
    const client = clientKey(context.ip);
    const pair = `${account}|${client}`;

    const target = userId === null ? null : { type: 'user', id: userId };
    await this.count(this.accountClient, pair, 'account_client', context, target);
    await this.count(this.client, client, 'client', context, target);
    const failures = await this.consumedAfter(this.account, account);
    if (failures > this.config.accountFreeFailures) {
      const over = failures - this.config.accountFreeFailures;
      const delay = Math.min(2 ** Math.min(over - 1, 30), this.config.accountMaxDelaySeconds);
      await this.count(this.accountGate, account, 'account', context, target, delay);
    }

    let reported = false;
    return {
      succeeded: async () => {
        if (reported) return;
        reported = true;
        // Best effort: a store failure here must not turn a good login into an error.
        await Promise.allSettled([
          this.accountClient.delete(pair),
          this.client.reward(client, 1),
          this.account.reward(account, 1),
        ]);
      },
      refund: async () => {
        if (reported) return;
        reported = true;
        await Promise.allSettled([
          this.accountClient.reward(pair, 1),
          this.client.reward(client, 1),
          this.account.reward(account, 1),
        ]);
      },
    };
  }

  /**
   * Counts one MFA code check for `email`'s account; throws 429 once `mfaFailures` codes were
   * wrong in the window. Call before checking the code, after the password was found right.
   * Whoever sends codes knows the password, so this limit is per account across all clients,
   * and much lower than the password limits: with the defaults (10 an hour) guessing one of the
   * three codes valid at a time takes on average ~4 years. Only a right code clears it.
   */
  async beginSecondFactor(
    email: string,
    context: EventContext,
    userId: string,
  ): Promise<SecondFactorAttempt> {
    const account = accountKey(email);
    await this.count(this.accountMfa, account, 'account_mfa', context, {
      type: 'user',
      id: userId,
    });
    return {
      succeeded: async () => {
        await Promise.allSettled([this.accountMfa.delete(account)]);
      },
    };
  }

  /**
   * After a password reset (a link that reached the account's mailbox, or an operator): the
   * failed-password counts of the account, and of the account with the client the reset came
   * from, start afresh, so an owner who locked themselves out by mistyping is not refused the new
   * password (OWASP Forgot Password Cheat Sheet). Guesses made against the old password say
   * nothing about the new one. Wrong MFA codes stay counted: the reset changed only the password.
   * Best effort: a store failure must not fail a reset that is already written.
   */
  async afterPasswordReset(email: string, context: EventContext): Promise<void> {
    const account = accountKey(email);
    await Promise.allSettled([
      this.account.delete(account),
      this.accountGate.delete(account),
      ...(context.ip ? [this.accountClient.delete(`${account}|${clientKey(context.ip)}`)] : []),
    ]);
  }

  private async count(
    counter: RateLimiterAbstract,
    key: string,
    scope: ThrottleScope,
    context: EventContext,
    target: SecurityEvent['target'],
    customDuration?: number,
  ): Promise<void> {
    try {
      await counter.consume(key, 1, customDuration === undefined ? {} : { customDuration });
    } catch (error) {
      if (!(error instanceof RateLimiterRes)) throw storeUnavailable(error);
      const retryAfter = Math.max(Math.ceil(error.msBeforeNext / 1000), 1);
      this.events.emit({
        ...context,
        type: 'login.throttled',
        outcome: 'denied',
        target,
        details: { scope, retryAfterSeconds: retryAfter },
      });
      // The RateLimit fields the request policy set earlier still show room in the auth
      // policy; they are replaced by this limit's, so that a client honouring RateLimit-Reset
      // waits as long as Retry-After says instead of retrying into the same refusal.
      throw new AppError('rate_limited', `Too many failed logins. Retry in ${retryAfter} s.`, {
        headers: {
          'retry-after': String(retryAfter),
          ...rateLimitHeaders({ limit: counter.points, remaining: 0, resetSeconds: retryAfter }),
        },
      });
    }
  }

  /** Counts one attempt on `counter` and returns the attempts in its window, over limit or not. */
  private async consumedAfter(counter: RateLimiterAbstract, key: string): Promise<number> {
    try {
      return (await counter.consume(key)).consumedPoints;
    } catch (error) {
      if (error instanceof RateLimiterRes) return error.consumedPoints;
      throw storeUnavailable(error);
    }
  }
}

/** Emails are personal data: the store only ever sees a hash of them. */
function accountKey(email: string): string {
  return createHash('sha256').update(email).digest('base64url').slice(0, 32);
}

/** The throttle when rate limiting is turned off: counts nothing. */
export const NO_LOGIN_THROTTLE: Pick<
  LoginThrottle,
  'begin' | 'beginSecondFactor' | 'afterPasswordReset'
> = {
  begin: () =>
    Promise.resolve({ succeeded: () => Promise.resolve(), refund: () => Promise.resolve() }),
  beginSecondFactor: () => Promise.resolve({ succeeded: () => Promise.resolve() }),
  afterPasswordReset: () => Promise.resolve(),
};
