import { availableParallelism } from 'node:os';
import type { Logger } from 'pino';
import { Permissions } from './access/permissions.js';
import { AccountEmailService } from './auth/account-email-service.js';
import { AuthService } from './auth/auth-service.js';
import { EmailChangeService } from './auth/email-change-service.js';
import { LoginThrottle, NO_LOGIN_THROTTLE } from './auth/login-throttle.js';
import { MfaService, mfaIssuerLabel } from './auth/mfa-service.js';
import { KEY_REFRESH_INTERVAL_MS, type Config } from './config/index.js';
import {
  FieldCipher,
  Keyring,
  KeyringError,
  PasswordHasher,
  type LoadedKeyring,
} from './crypto/index.js';
import { AuditLog } from './audit/audit-log.js';
import { AuditSink } from './audit/audit-sink.js';
import { webhookDrainMs, webhookSinkFromConfig, type WebhookSink } from './audit/webhook-sink.js';
import {
  AuditEventsRepository,
  createDatabase,
  EmailTokensRepository,
  ENCRYPTED_COLUMNS,
  Housekeeping,
  IdentitiesRepository,
  MfaRepository,
  migrateToLatest,
  RefreshTokensRepository,
  SessionsRepository,
  SigningKeysRepository,
  UsersRepository,
  type Db,
} from './db/index.js';
import { unsafeOverrides } from './config/unsafe-overrides.js';
import { ConfigError } from './errors.js';
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
import { AccessTokens } from './tokens/access-token.js';
import { KeyRotationBus } from './tokens/key-rotation-bus.js';
import { RefreshTokens } from './tokens/refresh-tokens.js';
import { RevocationBus } from './tokens/revocation-bus.js';
import { SessionState } from './tokens/session-state.js';
import { Sessions } from './tokens/sessions.js';
import { SigningKeyStore } from './tokens/signing-keys.js';
import { UsersService } from './users/users-service.js';
import { startCheckpoint } from './start-checkpoint.js';

/** How often each instance re-reads the signing keys (picks up rotations done elsewhere). */

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

/**
 * The master keyring: from keys.masterKey, from keys.masterKeyFile, or (outside production only)
 * a development key file generated on first start with a loud warning. `keys.currentVersion`,
 * when set, picks the version new values are written under (a staged rotation).
 */
export function loadKeyring(config: Config, logger: Pick<Logger, 'warn'>): Keyring {
  const keyring = loadKeyringVersions(config, logger);
  const pinned = config.keys.currentVersion;
  if (pinned === undefined || pinned === keyring.currentVersion) return keyring;
  try {
    return keyring.withCurrent(pinned);
  } catch (error) {
    throw new ConfigError([
      `keys.currentVersion (BULWARK_KEYS_CURRENT_VERSION): ${(error as Error).message}. Fix: name a version the keyring holds, or unset it.`,
    ]);
  }
}

function loadKeyringVersions(config: Config, logger: Pick<Logger, 'warn'>): Keyring {
  try {
    if (config.keys.masterKey !== undefined) return Keyring.fromEnvValue(config.keys.masterKey);
    if (config.keys.masterKeyFile !== undefined) return Keyring.fromFile(config.keys.masterKeyFile);
  } catch (error) {
    // The keyring's messages never contain key material.
    throw new ConfigError([
      `${config.keys.masterKey !== undefined ? 'BULWARK_MASTER_KEY (keys.masterKey)' : 'keys.masterKeyFile'}: ${(error as Error).message}`,
    ]);
  }
  if (config.env === 'production') {
    throw new ConfigError([
      'BULWARK_MASTER_KEY (keys.masterKey) is not set, and production never uses a generated development key. Fix: set it to 32 random bytes in base64 (openssl rand -base64 32), or set keys.masterKeyFile.',
    ]);
  }
  const { keyring, created } = loadDevKeyFile(config.keys.devKeyFile);
  logger.warn(
    { file: config.keys.devKeyFile, created },
    'using a DEVELOPMENT master key file: anyone who can read it can decrypt the data. Set BULWARK_MASTER_KEY in production.',
  );
  return keyring;
}

/**
 * The development key file, generated on first use. Its problems are the operator's to fix (a mode,
 * a directory), so they are ConfigErrors naming the setting, like a bad keys.masterKeyFile.
 */
function loadDevKeyFile(path: string): LoadedKeyring {
  const setting = 'keys.devKeyFile (BULWARK_KEYS_DEV_KEY_FILE)';
  try {
    return Keyring.loadOrCreateDevFile(path);
  } catch (error) {
    if (error instanceof KeyringError) {
      // The keyring's messages never contain key material; a mode problem already says `run: chmod`.
      const fix = /run: /.test(error.message)
        ? ''
        : ' Fix: restore the file from a backup (a new key cannot decrypt what this one encrypted), or set BULWARK_MASTER_KEY.';
      throw new ConfigError([`${setting}: ${error.message}.${fix}`]);
    }
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new ConfigError([
      `${setting}: the development key file ${path} cannot be created or read (${code}). Fix: make its directory writable by this user, point BULWARK_KEYS_DEV_KEY_FILE somewhere writable, or set BULWARK_MASTER_KEY.`,
    ]);
  }
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
    // Recorded at every start, so the audit log shows when the posture was weakened.
    for (const override of unsafeOverrides(config)) {
      events.emit({ type: 'config.unsafe_override', outcome: 'success', details: { ...override } });
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
    signingKeys = new SigningKeyStore(
      new SigningKeysRepository(db.kysely),
      new FieldCipher(keyring, ENCRYPTED_COLUMNS.signingKeysPrivateKey.purpose),
      {
        algorithm: t.algorithm,
        // A retired key verifies every token it signed until they have all expired. Other
        // instances may go on signing with it until their next refresh, hence the extra interval.
        retiredKeyLifetimeMs:
          (t.accessTokenTtlSeconds + t.clockToleranceSeconds) * 1000 + KEY_REFRESH_INTERVAL_MS,
        refreshIntervalMs: KEY_REFRESH_INTERVAL_MS,
        publishAheadMs: t.keyPublishAheadSeconds * 1000,
        onRefreshError: (error) => logger.error({ err: error }, 'reloading signing keys failed'),
        now,
        events,
        // Every instance (and `bulwark keys rotate`) announces its rotations on the shared store.
        onRotated: (kid) => keyRotations.announce(kid),
      },
    );
    const keyRotations = new KeyRotationBus(store, signingKeys, logger);
    await signingKeys.init();
    const accessTokens = new AccessTokens(signingKeys, {
      issuer: t.issuer,
      audience: t.audience,
      ttlSeconds: t.accessTokenTtlSeconds,
      clockToleranceSeconds: t.clockToleranceSeconds,
      now,
    });
    const sessionsRepo = new SessionsRepository(db.kysely);
    const sessionState = new SessionState(sessionsRepo, { now });
    const sessions = new Sessions(sessionsRepo, sessionState, events, {
      absoluteTtlMs: t.refreshAbsoluteTtlSeconds * 1000,
      revocations: new RevocationBus(store, sessionState, logger),
      now,
    });
    const refreshTokens = new RefreshTokens(
      new RefreshTokensRepository(db.kysely),
      sessions,
      events,
      {
        idleTtlMs: t.refreshIdleTtlSeconds * 1000,
        reuseGraceMs: t.refreshReuseGraceSeconds * 1000,
        now,
      },
    );
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
      now,
    });
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
      signingKeys,
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
        // Events still queued are written before the database closes. Webhook deliveries get a
        // bounded time to finish (a CLI command's event would otherwise never be sent), then are
        // abandoned rather than holding shutdown through their retries (they are in the log and
        // the table).
        signingKeys?.close();
        await housekeeping.close();
        await accountEmail?.close(mailDrainMs(config));
        await webhook?.close({ drainMs: webhookDrainMs(config) });
        await auditSink.flush();
        await store?.close();
        await db.close();
      },
    };
  } catch (error) {
    // As in close(): events emitted before the failure (config.unsafe_override at every start)
    // are written while the database is still open, or they would be lost from the table.
    signingKeys?.close();
    await startedAccountEmail?.close(mailDrainMs(config));
    await startedWebhook?.close({ drainMs: webhookDrainMs(config) });
    await startedAuditSink?.flush();
    await store?.close();
    await db.close();
    throw error;
  }
}

/**
 * How long closing waits for queued account e-mails: at most 10 s, and at most a quarter of the
 * shutdown timeout. The webhook drain after it takes up to half, and in-flight requests, the
 * audit flush and the database need the rest: a stalled relay given the whole timeout would have
 * the process exit 1 at the timeout with its last security events unwritten.
 */
function mailDrainMs(config: Config): number {
  return Math.min(10_000, Math.floor(config.server.shutdownTimeoutMs / 4));
}

/** The account e-mails when email.smtpUrl or email.outboxDir is set (the config rules ask for a link too). */
async function createAccountEmail(
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
  const { Mailer } = await import('./mail/index.js');
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
    },
    now: deps.now,
  });
}
