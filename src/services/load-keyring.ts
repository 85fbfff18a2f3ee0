import type { Logger } from 'pino';
import type { Config } from '../config/index.js';
import { Keyring, KeyringError, type LoadedKeyring } from '../crypto/index.js';
import { ConfigError } from '../errors.js';

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
