import type { Logger } from 'pino';
import { RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { AppError } from '../errors.js';
import { rateLimitHeaders, storeUnavailable } from '../rate-limit/index.js';

/** The account e-mails' limit per account and hour, counted in the shared store. */
export class AccountMailLimit {
  constructor(
    /** E-mails per account and hour (the shared store); null when rate limiting is off. */
    private readonly limit: RateLimiterAbstract | null,
    private readonly logger: Pick<Logger, 'error'>,
  ) {}

  /**
   * Counts one e-mail to the account: 0 when it may be sent, else the ms until it may. A store
   * failure refuses the e-mail: for a caller waiting (`answer`) as a 503, else as a wait.
   */
  async allowance(userId: string, answer: boolean): Promise<number> {
    const limit = this.limit;
    if (!limit) return 0;
    try {
      await limit.consume(userId);
      return 0;
    } catch (error) {
      if (error instanceof RateLimiterRes) return Math.max(error.msBeforeNext, 1);
      if (answer) throw storeUnavailable(error);
      this.logger.error({ err: error }, 'the e-mail limit could not be counted: no e-mail sent');
      return 1;
    }
  }

  /** 429 for an account past its e-mails of the hour; `waitMs` until the next may go. */
  tooManyEmails(waitMs: number): AppError {
    const retryAfter = Math.max(Math.ceil(waitMs / 1000), 1);
    return new AppError(
      'rate_limited',
      `Too many e-mails to this account. Retry in ${retryAfter} s.`,
      {
        headers: {
          'retry-after': String(retryAfter),
          ...rateLimitHeaders({
            limit: this.limit?.points ?? 0,
            remaining: 0,
            resetSeconds: retryAfter,
          }),
        },
      },
    );
  }
}
