import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { Keyring } from '../crypto/index.js';
import { readFileBoundedSync, SETTINGS_FILE_MAX_BYTES } from '../files/read-bounded.js';
import { masterKeysOf, masterKeyWeakness } from './master-key.js';
import {
  pass,
  productionFail,
  type Outcome,
  type PostureCheck,
  type PostureContext,
} from './types.js';

const MISSING_KEY_FIX =
  'set BULWARK_MASTER_KEY to 32 random bytes in base64 (openssl rand -base64 32), or keys.masterKeyFile to a 0600 key file.';

function loadConfigured(context: PostureContext): { keyring: Keyring; source: string } | Outcome {
  const { keys } = context.config;
  const source =
    keys.masterKey !== undefined
      ? 'BULWARK_MASTER_KEY (keys.masterKey)'
      : `keys.masterKeyFile ${keys.masterKeyFile ?? ''}`;
  try {
    const keyring =
      keys.masterKey !== undefined
        ? Keyring.fromEnvValue(keys.masterKey)
        : Keyring.fromFile(keys.masterKeyFile!);
    return { keyring, source };
  } catch (error) {
    // The keyring's messages name files and lengths, never key bytes.
    const code = (error as NodeJS.ErrnoException).code;
    return {
      status: 'fail',
      reason: `${source} cannot be used: ${code ?? (error as Error).message}.`,
      fix: MISSING_KEY_FIX,
    };
  }
}

/** The development key file, if it exists and loads; never created here. */
function devKeys(path: string): Map<number, Buffer> | undefined {
  try {
    return masterKeysOf(Keyring.fromFile(path));
  } catch {
    return undefined;
  }
}

/**
 * Why the existing development key file cannot be used (serve would refuse to start), or
 * undefined when it loads or does not exist yet (serve creates it).
 */
function devKeyProblem(path: string): Outcome | undefined {
  let mode: number;
  try {
    mode = statSync(path).mode & 0o777;
  } catch {
    return undefined;
  }
  if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
    return {
      status: 'fail',
      reason: `the development key file ${path} is readable by group or others (mode ${mode.toString(8).padStart(4, '0')}), so the service refuses to start.`,
      fix: `chmod 600 ${path}`,
    };
  }
  try {
    Keyring.fromFile(path);
    return undefined;
  } catch (error) {
    // The keyring's messages name the file and its shape, never key bytes.
    const code = (error as NodeJS.ErrnoException).code;
    return {
      status: 'fail',
      reason: `the development key file ${path} cannot be used (${code ?? (error as Error).message}), so the service refuses to start.`,
      fix: 'restore it from a backup (a new key cannot decrypt what this one encrypted), or set BULWARK_MASTER_KEY.',
    };
  }
}

/** Line 9: a configured master key of 32 random bytes that is not the development key. */
export const masterKeyCheck: PostureCheck = {
  id: 'keys.master',
  line: 9,
  run(context) {
    const { keys } = context.config;
    if (keys.masterKey === undefined && keys.masterKeyFile === undefined) {
      const missing: Outcome = {
        status: productionFail(context),
        reason: `no master key is configured: a generated development key file (${keys.devKeyFile}) encrypts the data${context.config.env === 'production' ? ', and production never uses one' : ''}.`,
        fix: MISSING_KEY_FIX,
      };
      const unusable =
        context.config.env === 'production' ? undefined : devKeyProblem(keys.devKeyFile);
      return unusable === undefined ? missing : [unusable, missing];
    }
    if (
      keys.masterKeyFile !== undefined &&
      resolve(keys.masterKeyFile) === resolve(keys.devKeyFile)
    ) {
      return {
        status: productionFail(context),
        reason: `keys.masterKeyFile is the development key file (${keys.devKeyFile}), which Bulwark generates unasked and keeps next to the data.`,
        fix: 'generate a production key (openssl rand -base64 32) and keep it outside the data directory, in BULWARK_MASTER_KEY or a 0600 keys.masterKeyFile.',
      };
    }
    const loaded = loadConfigured(context);
    if ('status' in loaded) return loaded;
    const configured = masterKeysOf(loaded.keyring);
    const dev = devKeys(keys.devKeyFile);
    const outcomes: Outcome[] = [];
    for (const [version, key] of configured) {
      const named = configured.size > 1 ? `${loaded.source} version ${version}` : loaded.source;
      if (dev && [...dev.values()].some((d) => d.equals(key))) {
        outcomes.push({
          status: productionFail(context),
          reason: `${named} is the generated development key from ${keys.devKeyFile}.`,
          fix: 'generate a separate production key: openssl rand -base64 32.',
        });
        continue;
      }
      const weakness = masterKeyWeakness(key);
      if (weakness !== undefined) {
        outcomes.push({
          status: productionFail(context),
          reason: `${named} is not 32 bytes of real entropy: it ${weakness}.`,
          fix: 'generate the key with a CSPRNG: openssl rand -base64 32 (then re-encrypt with the new key).',
        });
      }
    }
    if (outcomes.length > 0) return outcomes;
    return pass(
      `master key from ${loaded.source}: ${configured.size} version(s), current ${loaded.keyring.currentVersion}, 32 bytes that look random.`,
    );
  },
};

/** Where the settings that hold secrets sit in a config file (`*`: any provider name). */
const SECRET_PATHS: readonly (readonly string[])[] = [
  ['keys', 'masterKey'],
  ['tls', 'passphrase'],
  ['metrics', 'token'],
  ['audit', 'webhook', 'secret'],
  ['database', 'url'],
  ['email', 'smtpUrl'],
  ['oidc', 'providers', '*', 'clientSecret'],
];

/** True when `value` (a config file's JSON) has a value at `path`; own properties only. */
function holdsAt(value: unknown, path: readonly string[]): boolean {
  if (path.length === 0) return value !== undefined && value !== null;
  if (typeof value !== 'object' || value === null) return false;
  const [head, ...rest] = path as [string, ...string[]];
  const children =
    head === '*'
      ? Object.values(value)
      : Object.hasOwn(value, head)
        ? [(value as Record<string, unknown>)[head]]
        : [];
  return children.some((child) => holdsAt(child, rest));
}

/**
 * Whether the config file itself holds a secret. Only the file counts: the same setting from the
 * environment (`BULWARK_MASTER_KEY` next to a secret-free, world-readable file, as a systemd
 * EnvironmentFile or a container secret gives it) is not in the file. A file that cannot be read
 * or parsed here counts as holding one (loading the config reports it on its own).
 */
function fileHoldsSecrets(path: string): boolean {
  let parsed: unknown;
  try {
    // A regular file only: a FIFO or a device given as --config would block or never end.
    if (!statSync(path).isFile()) return true;
    parsed = JSON.parse(readFileBoundedSync(path, SETTINGS_FILE_MAX_BYTES).toString('utf8'));
  } catch {
    return true;
  }
  return SECRET_PATHS.some((secretPath) => holdsAt(parsed, secretPath));
}

/** Line 9: secrets in a config file that other local accounts can read are not secret. */
export const secretFilesCheck: PostureCheck = {
  id: 'keys.file-modes',
  line: 9,
  run(context) {
    // keys.masterKeyFile is not listed: the keyring itself refuses an exposed key file (keys.master).
    const files: [string, string][] = [];
    if (context.config.tls.keyFile !== undefined)
      files.push(['tls.keyFile', context.config.tls.keyFile]);
    for (const [name, provider] of Object.entries(context.config.oidc.providers)) {
      if (provider.privateKeyFile !== undefined)
        files.push([`oidc.providers.${name}.privateKeyFile`, provider.privateKeyFile]);
    }
    if (context.configFile !== undefined && fileHoldsSecrets(context.configFile)) {
      files.push(['--config', context.configFile]);
    }
    const outcomes: Outcome[] = [];
    for (const [setting, path] of files) {
      let mode: number;
      try {
        mode = statSync(path).mode & 0o777;
      } catch {
        continue; // reported by the check that reads the file
      }
      if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
        outcomes.push({
          status: productionFail(context),
          reason: `${setting} ${path} holds secrets and is readable by group or others (mode ${mode.toString(8).padStart(4, '0')}).`,
          fix: `chmod 600 ${path}`,
        });
      }
    }
    if (outcomes.length > 0) return outcomes;
    return pass(
      files.length === 0
        ? 'no file with secrets to check.'
        : `${files.map(([s]) => s).join(', ')}: readable by the owner only.`,
    );
  },
};
