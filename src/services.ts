import { availableParallelism } from 'node:os';
import type { Logger } from 'pino';
import { Permissions } from './access/permissions.js';
import type { AccountEmailService } from './auth/account-email-service.js';
import { AuthService } from './auth/auth-service.js';
import { EmailChangeService } from './auth/email-change-service.js';
import { LoginThrottle, NO_LOGIN_THROTTLE } from './auth/login-throttle.js';
import { MfaService, mfaIssuerLabel } from './auth/mfa-service.js';
import type { Config } from './config/index.js';
import { FieldCipher, PasswordHasher, type Keyring } from './crypto/index.js';
import { AuditLog } from './audit/audit-log.js';
import { AuditSink } from './audit/audit-sink.js';
import { webhookSinkFromConfig, type WebhookSink } from './audit/webhook-sink.js';
import {
  AuditEventsRepository,
  createDatabase,
  EmailTokensRepository,
  ENCRYPTED_COLUMNS,
  Housekeeping,
  IdentitiesRepository,
  MfaRepository,
  migrateToLatest,
  UsersRepository,
  type Db,
} from './db/index.js';
import { unsafeOverrides } from './config/unsafe-overrides.js';
import { Metrics } from './metrics/metrics.js';
import { cookieNames } from './oidc/cookies.js';
import { HandoffCodes } from './oidc/handoff-codes.js';
import { LoginStateSealer } from './oidc/login-state.js';
import { OidcService } from './oidc/oidc-service.js';
import { OidcProviders } from './oidc/providers.js';
import { MetricsSink } from './metrics/metrics-sink.js';
import { RateLimits } from './rate-limit/index.js';
import { SecurityEvents } from './security-events.js';
import { createSharedStore, type SharedStore } from './store/index.js';
import type { AccessTokens } from './tokens/access-token.js';
import type { RefreshTokens } from './tokens/refresh-tokens.js';
import type { SessionState } from './tokens/session-state.js';
import type { Sessions } from './tokens/sessions.js';
import type { SigningKeyStore } from './tokens/signing-keys.js';
import { UsersService } from './users/users-service.js';
import { startCheckpoint } from './start-checkpoint.js';
import { createAccountEmail } from './services/account-email.js';
import { loadKeyring } from './services/load-keyring.js';
import { shutDown } from './services/shutdown.js';
import { createTokenServices } from './services/token-services.js';

export { loadKeyring } from './services/load-keyring.js';

/** Everything the capabilities share, built once per process from the config. */
export interface Services {
  config: Config;
  db: Db;
  keyring: Keyring;
  /** Rate-limit counters and revocation messages shared by instances (memory or Redis). */
  store: SharedStore;
  /** The per-route policies; null when rateLimit.enabled is false. */
  rateLimits: RateLimits | null;
  events: SecurityEvents;
  metrics: Metrics;
  auditLog: AuditLog;
  /** Writes events to the audit table in the background; `flush()` waits for the backlog. */
  auditSink: AuditSink;
  /** Present when audit.webhook.url is configured. */
  webhook: WebhookSink | undefined;
  hasher: PasswordHasher;
  permissions: Permissions;
  users: UsersService;
  usersRepo: UsersRepository;
  signingKeys: SigningKeyStore;
  accessTokens: AccessTokens;
  sessionState: SessionState;
  sessions: Sessions;
  refreshTokens: RefreshTokens;
  auth: AuthService;
  mfa: MfaService;
  /** Password reset and address verification e-mails; undefined when email is not configured. */
  accountEmail: AccountEmailService | undefined;
  /** A user's change of their own address; undefined when e-mail is not configured. */
  emailChange: EmailChangeService | undefined;
  /** Sign-in with OpenID Connect providers (no routes answer when none is configured). */
  oidc: OidcService;
  /** Deletes sessions and e-mail links past tokens.sessionRetentionSeconds (started by startServer). */
  housekeeping: Housekeeping;
  close(): Promise<void>;
}

export interface ServicesOptions {
  logger: Logger;
  now?: () => number;
  /** The app's metrics, when it already made them (its HTTP hooks start before the services). */
  metrics?: Metrics;
  /**
   * Stops the start at its next step when aborted (a signal during start-up): what was opened is
   * closed, and createServices rejects with the signal's reason.
   */
  signal?: AbortSignal;
}

/** Opens the database (migrating it if configured) and wires every service. */
export async function createServices(config: Config, options: ServicesOptions): Promise<Services> {
  const { logger } = options;
  const now = options.now ?? Date.now;
  // Before the development key file is created.
  await startCheckpoint(options.signal);
  const keyring = loadKeyring(config, logger);
  const oidcProviders = await OidcProviders.load(config.oidc, now);
  const db = await createDatabase({
    sqlitePath: config.database.sqlitePath,
    ...(config.database.url === undefined ? {} : { url: config.database.url }),
    onBackgroundError: (error) => logger.error({ err: error }, 'database connection error'),
  });
  let store: SharedStore | undefined;
  let signingKeys: SigningKeyStore | undefined;
  // Set as soon as they exist, for the clean-up of a start that fails later on.
  let startedAuditSink: AuditSink | undefined;
  let startedWebhook: WebhookSink | undefined;
  let startedAccountEmail: AccountEmailService | undefined;
  try {
    store = await createSharedStore(config, logger, options.signal);
    // Before the migrations, which are never cut short once begun.
    await startCheckpoint(options.signal);
    if (config.database.migrateOnStart) {
      const { applied } = await migrateToLatest(db);
      if (applied.length > 0) logger.info({ applied }, 'database migrated');
    }
    const events = new SecurityEvents(logger, now);
    const metrics = options.metrics ?? new Metrics();
    events.addSink(new MetricsSink(metrics));
    const auditLog = new AuditLog(new AuditEventsRepository(db.kysely, db.dialect));
    const auditSink = new AuditSink(auditLog, {
      queueSize: config.audit.queueSize,
      logger,
      metrics,
      now,
    });
    startedAuditSink = auditSink;
    events.addSink(auditSink);
    const webhook = webhookSinkFromConfig(config, logger, metrics);
    startedWebhook = webhook;
    if (webhook) events.addSink(webhook);
    // Recorded at every start, so the audit log shows when the posture was weakened, and logged
    // as a warning (the event's own line is at info, as for every success). The development key
    // file and rateLimit.enabled=false have warnings of their own.
    for (const override of unsafeOverrides(config)) {
      events.emit({ type: 'config.unsafe_override', outcome: 'success', details: { ...override } });
      if (override.setting !== 'keys.masterKey' && override.setting !== 'rateLimit.enabled') {
        logger.warn(
          { setting: override.setting },
          `${override.setting} weakens a secure default: ${override.reason}. bulwark doctor says how to restore it.`,
        );
      }
    }
    const hasher = new PasswordHasher({
      memoryKiB: config.passwords.argon2MemoryKiB,
      iterations: config.passwords.argon2Iterations,
      parallelism: config.passwords.argon2Parallelism,
      maxConcurrent: config.passwords.maxConcurrentHashes || availableParallelism(),
      onMeasure: (operation, seconds) =>
        metrics.passwordHashDuration.observe({ operation }, seconds),
    });
    const permissions = new Permissions(config.access.roles);
    const usersRepo = new UsersRepository(db.kysely, db.dialect);
    const t = config.tokens;
    const tokens = await createTokenServices(config, { db, keyring, store, events, logger, now });
    signingKeys = tokens.signingKeys;
    const { accessTokens, sessionState, sessions, refreshTokens } = tokens;
    const limited = config.rateLimit.enabled;
    if (!limited) {
      logger.warn(
        'rateLimit.enabled is false: no rate limits and NO brute-force protection of logins. Raise the limits instead of turning them off.',
      );
    }
    const throttle = limited
      ? new LoginThrottle(store, config.rateLimit.login, events)
      : NO_LOGIN_THROTTLE;
    const users = new UsersService({
      repo: usersRepo,
      hasher,
      cipher: new FieldCipher(keyring, ENCRYPTED_COLUMNS.usersPhone.purpose),
      sessions,
      permissions,
      events,
      passwords: config.passwords,
      emailTokens: new EmailTokensRepository(db.kysely),
      loginThrottle: throttle,
      // Account e-mail is made after (it sets passwords through `users`): looked up when used.
      notices: {
        notifySecurityChange: (user, notice) =>
          startedAccountEmail?.notifySecurityChange(user, notice),
      },
      now,
    });
    const accountEmail = await createAccountEmail(config, {
      db,
      usersRepo,
      users,
      store,
      events,
      metrics,
      logger,
      now,
    });
    startedAccountEmail = accountEmail;
    const mfa = new MfaService({
      repo: new MfaRepository(db.kysely),
      users: usersRepo,
      hasher,
      cipher: new FieldCipher(keyring, ENCRYPTED_COLUMNS.totpSecret.purpose),
      events,
      sessions,
      throttle,
      issuer: mfaIssuerLabel(t.issuer),
      permissions,
      notices: accountEmail,
      now,
    });
    const emailChange =
      accountEmail &&
      new EmailChangeService({
        tokens: new EmailTokensRepository(db.kysely),
        usersRepo,
        hasher,
        throttle,
        sessions,
        accountEmail,
        events,
        options: {
          changeEmailUrl: config.email.changeEmailUrl,
          changeEmailTtlMs: config.email.changeEmailTtlSeconds * 1000,
          serviceName: mfaIssuerLabel(t.issuer),
        },
        now,
      });
    const auth = new AuthService({
      accountEmail,
      users,
      repo: usersRepo,
      hasher,
      sessions,
      accessTokens,
      refreshTokens,
      events,
      throttle,
      mfa,
      defaultRole: config.access.defaultRole,
      now,
    });
    const oidc = new OidcService({
      providers: oidcProviders,
      sealer: new LoginStateSealer(
        new FieldCipher(keyring, 'oidc-login-cookie'),
        cookieNames(config.oidc.cookieSecure).login,
      ),
      handoff: new HandoffCodes(store, config.oidc.handoffTtlSeconds * 1000, now),
      identities: new IdentitiesRepository(db.kysely),
      usersRepo,
      users,
      auth,
      sessions,
      notices: accountEmail,
      logger,
      events,
      defaultRole: config.access.defaultRole,
      loginTtlMs: config.oidc.loginTtlSeconds * 1000,
      now,
    });
    const housekeeping = new Housekeeping(db.kysely, {
      retentionMs: t.sessionRetentionSeconds * 1000,
      now,
    });
    return {
      config,
      db,
      keyring,
      store,
      rateLimits: limited ? new RateLimits(store, config.rateLimit) : null,
      events,
      metrics,
      auditLog,
      auditSink,
      webhook,
      hasher,
      permissions,
      users,
      usersRepo,
      signingKeys: tokens.signingKeys,
      accessTokens,
      sessionState,
      sessions,
      refreshTokens,
      auth,
      mfa,
      accountEmail,
      emailChange,
      oidc,
      housekeeping,
      async close() {
        await shutDown(
          { db, store, auditSink, webhook, signingKeys, accountEmail, housekeeping },
          config,
        );
      },
    };
  } catch (error) {
    // As in close(): events emitted before the failure (config.unsafe_override at every start)
    // are written while the database is still open, or they would be lost from the table.
    await shutDown(
      {
        db,
        store,
        auditSink: startedAuditSink,
        webhook: startedWebhook,
        signingKeys,
        accountEmail: startedAccountEmail,
      },
      config,
    );
    throw error;
  }
}
