import type { Logger } from 'pino';
import { AccountEmailService } from '../auth/account-email-service.js';
import { mfaIssuerLabel } from '../auth/mfa-service.js';
import type { Config } from '../config/index.js';
import {
  EmailTokensRepository,
  SessionsRepository,
  type Db,
  type UsersRepository,
} from '../db/index.js';
import { ConfigError } from '../errors.js';
import type { Metrics } from '../metrics/metrics.js';
import type { SecurityEvents } from '../security-events.js';
import type { SharedStore } from '../store/index.js';
import type { UsersService } from '../users/users-service.js';

/** The account e-mails (links and security notices) when email.smtpUrl or email.outboxDir is set. */
export async function createAccountEmail(
  config: Config,
  deps: {
    db: Db;
    usersRepo: UsersRepository;
    users: UsersService;
    store: SharedStore;
    events: SecurityEvents;
    metrics: Metrics;
    logger: Logger;
    now: () => number;
  },
): Promise<AccountEmailService | undefined> {
  const e = config.email;
  const transport =
    e.smtpUrl !== undefined
      ? {
          kind: 'smtp' as const,
          url: e.smtpUrl,
          timeoutMs: e.timeoutMs,
          ...(e.smtpCaFile === undefined ? {} : { caFile: e.smtpCaFile }),
        }
      : e.outboxDir !== undefined
        ? { kind: 'outbox' as const, dir: e.outboxDir }
        : undefined;
  if (transport === undefined) return undefined;
  // Loaded only when e-mail is configured: nodemailer costs every start ~60 ms otherwise.
  const { Mailer } = await import('../mail/index.js');
  let mailer: InstanceType<typeof Mailer>;
  try {
    mailer = new Mailer({
      transport,
      from: e.from,
      queueSize: e.queueSize,
      maxAttempts: e.maxAttempts,
      initialBackoffMs: 1_000,
      logger: deps.logger,
      onOutcome: (kind, outcome) => deps.metrics.emails.inc({ kind, outcome }),
    });
  } catch (error) {
    // What the config rules cannot see (the CA file cannot be read …). The mail module's
    // messages never quote the URL (its password) or a file's content.
    throw new ConfigError([
      `email settings: ${(error as Error).message}. Fix: check email.smtpUrl, email.smtpCaFile and email.from.`,
    ]);
  }
  return new AccountEmailService({
    tokens: new EmailTokensRepository(deps.db.kysely),
    sessions: new SessionsRepository(deps.db.kysely),
    usersRepo: deps.usersRepo,
    users: deps.users,
    mailer,
    mailLimit: config.rateLimit.enabled
      ? deps.store.counter({
          name: 'email-account',
          points: e.perAccountPerHour,
          durationSeconds: 3_600,
        })
      : null,
    events: deps.events,
    logger: deps.logger,
    options: {
      passwordResetUrl: e.passwordResetUrl,
      verifyEmailUrl: e.verifyEmailUrl,
      passwordResetTtlMs: e.passwordResetTtlSeconds * 1000,
      verificationTtlMs: e.verificationTtlSeconds * 1000,
      serviceName: mfaIssuerLabel(config.tokens.issuer),
      newSignInNotices: e.newSignInNotices,
      sessionRetentionMs: config.tokens.sessionRetentionSeconds * 1000,
    },
    now: deps.now,
  });
}
