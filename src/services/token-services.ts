import type { Logger } from 'pino';
import { KEY_REFRESH_INTERVAL_MS, type Config } from '../config/index.js';
import { FieldCipher, type Keyring } from '../crypto/index.js';
import {
  ENCRYPTED_COLUMNS,
  RefreshTokensRepository,
  SessionsRepository,
  SigningKeysRepository,
  type Db,
} from '../db/index.js';
import type { SecurityEvents } from '../security-events.js';
import type { SharedStore } from '../store/index.js';
import { AccessTokens } from '../tokens/access-token.js';
import { KeyRotationBus } from '../tokens/key-rotation-bus.js';
import { RefreshTokens } from '../tokens/refresh-tokens.js';
import { RevocationBus } from '../tokens/revocation-bus.js';
import { SessionState } from '../tokens/session-state.js';
import { Sessions } from '../tokens/sessions.js';
import { SigningKeyStore } from '../tokens/signing-keys.js';

/** The signing keys and what they sign: access tokens, sessions and their refresh tokens. */
export interface TokenServices {
  signingKeys: SigningKeyStore;
  accessTokens: AccessTokens;
  sessionState: SessionState;
  sessions: Sessions;
  refreshTokens: RefreshTokens;
}

/**
 * Builds the token services from `config.tokens`, with the signing keys loaded. The signing keys'
 * refresh is stopped again when this fails; once it returns, stopping it is the caller's.
 */
export async function createTokenServices(
  config: Config,
  deps: {
    db: Db;
    keyring: Keyring;
    store: SharedStore;
    events: SecurityEvents;
    logger: Logger;
    now: () => number;
  },
): Promise<TokenServices> {
  const { db, keyring, store, events, logger, now } = deps;
  const t = config.tokens;
  const signingKeys: SigningKeyStore = new SigningKeyStore(
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
  try {
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
    return { signingKeys, accessTokens, sessionState, sessions, refreshTokens };
  } catch (error) {
    signingKeys.close();
    throw error;
  }
}
