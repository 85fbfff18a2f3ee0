import { statSync } from 'node:fs';
import { pino, type Logger } from 'pino';
import { loadConfig, type Config } from '../config/index.js';
import { DecryptionError } from '../crypto/field-cipher.js';
import { createDatabase, type Db } from '../db/index.js';
import { ConfigError, isAppError } from '../errors.js';
import { createLogger } from '../http/logger.js';
import type { Services } from '../services.js';
import { CliError, CliUsageError } from './args.js';
import type { CliIo } from './io.js';

/** What every one-shot command starts from: the validated config and a quiet logger. */
export interface CliContext {
  config: Config;
  /** JSON lines on stderr at level warn: stdout carries only the command's own output. */
  logger: Logger;
}

/**
 * The config as the CLI reads it: the environment of `io`, plus the `--config` file when given
 * (relative to `io.cwd`, named in messages as given).
 * @throws ConfigError for a bad setting; the CLI prints it and exits 78
 */
export function loadCliConfig(configFile: string | undefined, io: CliIo): Config {
  return loadConfig({
    env: io.env,
    ...(configFile === undefined ? {} : { file: configFile, cwd: io.cwd }),
  });
}

/**
 * Loads the config (see {@link loadCliConfig}) and a logger on the stderr of `io`.
 * @throws ConfigError for a bad setting; the CLI prints it and exits 78
 */
export function loadCliContext(configFile: string | undefined, io: CliIo): CliContext {
  const config = loadCliConfig(configFile, io);
  // Synchronous writes: a one-shot command exits right after its last line, and an async
  // destination could lose a warning written just before.
  const logger = createLogger(
    { ...config.log, level: 'warn' },
    io.stderrFd === undefined ? io.stderr : pino.destination({ dest: io.stderrFd, sync: true }),
  );
  return { config, logger };
}

/**
 * Opens the database alone (no keyring, no services), runs `fn`, and always closes it. For
 * commands that must work before the service can start, such as `migrate`. With `existing`, a
 * SQLite file that does not exist is an error instead of being created (commands that only
 * inspect or trim a database must not leave an empty one behind).
 */
export async function withDatabase<T>(
  context: CliContext,
  fn: (db: Db) => Promise<T>,
  options: { existing?: boolean } = {},
): Promise<T> {
  const { config, logger } = context;
  const { sqlitePath, url } = config.database;
  const existing = options.existing === true;
  if (existing) refuseMissingSqlite(config);
  let db: Db;
  try {
    db = await createDatabase({
      sqlitePath,
      ...(url === undefined ? {} : { url }),
      onBackgroundError: (error) => logger.warn({ err: error }, 'database connection error'),
      ...(existing ? { mustExist: true } : {}),
    });
  } catch (error) {
    throw toCliError(error, config);
  }
  try {
    return await fn(db);
  } catch (error) {
    throw toCliError(error, config);
  } finally {
    await closeQuietly(db.close(), logger);
  }
}

/**
 * Builds the services exactly as `serve` does (same keyring, same migrate-on-start rule), runs
 * `fn`, and always closes them. Failures become one-line CliErrors. With `existing`, a SQLite
 * file that does not exist is an error (commands that work on a deployment's keys or accounts,
 * run from the wrong directory, must not leave an empty database and a development key behind).
 */
export async function withServices<T>(
  context: CliContext,
  fn: (services: Services) => Promise<T>,
  options: { existing?: boolean } = {},
): Promise<T> {
  const { config, logger } = context;
  if (options.existing === true) refuseMissingSqlite(config);
  let services: Services;
  try {
    // Loaded on demand: `migrate` and `--help` need none of the services' dependencies.
    const { createServices } = await import('../services.js');
    services = await createServices(config, { logger });
  } catch (error) {
    throw toCliError(error, config);
  }
  try {
    return await fn(services);
  } catch (error) {
    throw toCliError(error, config);
  } finally {
    await closeQuietly(services.close(), logger);
  }
}

/** A CliError when the config names a SQLite file that is not there (PostgreSQL: no check). */
function refuseMissingSqlite(config: Config): void {
  const { sqlitePath, url } = config.database;
  if (url === undefined && sqlitePath !== ':memory:' && isMissing(sqlitePath)) {
    throw new CliError(
      `the SQLite database ${sqlitePath} does not exist. Fix: point BULWARK_DATABASE_SQLITE_PATH (database.sqlitePath) at the service's database (a relative path starts from the current directory), or run \`bulwark migrate\` to create one.`,
    );
  }
}

/** Only ENOENT: a file this user may not see (EACCES) exists, and opening it says so. */
function isMissing(path: string): boolean {
  try {
    statSync(path);
    return false;
  } catch (error) {
    return codeOf(error) === 'ENOENT';
  }
}

async function closeQuietly(closing: Promise<void>, logger: Logger): Promise<void> {
  try {
    await closing;
  } catch (error) {
    // The command's outcome is already decided; a failed close must not replace it.
    logger.warn({ err: error }, 'closing the database failed');
  }
}

/**
 * Errors the CLI already knows how to print pass through; anything else becomes a one-line
 * CliError (exit 1, or 78 when a setting cannot work), with the original kept as `cause`.
 */
export function toCliError(error: unknown, config: Config): Error {
  if (error instanceof CliError || error instanceof CliUsageError || error instanceof ConfigError) {
    return error;
  }
  if (isAppError(error)) return new CliError(error.detail, 1, { cause: error });
  const listen = describeListenFailure(error, config);
  if (listen !== undefined) return new CliError(listen.message, listen.exitCode, { cause: error });
  return new CliError(describeFailure(error, config), 1, { cause: error });
}

/** Node's network error codes that mean the database server could not be reached. */
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The error's own message, first line only; an AggregateError (IPv4 + IPv6) has none of its own. */
function messageOf(error: unknown): string {
  if (error instanceof AggregateError && error.message === '') {
    const inner = [...new Set(error.errors.map(messageOf))].filter(Boolean);
    if (inner.length > 0) return inner.join('; ');
  }
  const text = error instanceof Error ? error.message : String(error);
  const line = text.split('\n')[0]?.trim();
  return line || codeOf(error) || 'unknown error';
}

function hostOf(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  try {
    return new URL(url).hostname;
  } catch {
    return undefined;
  }
}

/**
 * A listener that could not start (`serve`): the port is taken, or the host is not one of this
 * machine's addresses. Undefined for anything else.
 */
function describeListenFailure(
  error: unknown,
  config: Config,
): { message: string; exitCode: number } | undefined {
  const detail = error as {
    syscall?: unknown;
    address?: unknown;
    port?: unknown;
    hostname?: unknown;
  };
  const code = codeOf(error);
  const { server, metrics } = config;
  const hostSetting = (host: unknown): string =>
    host === metrics.host && metrics.port !== undefined && host !== server.host
      ? 'BULWARK_METRICS_HOST (metrics.host)'
      : 'HOST (server.host)';
  if (detail.syscall === 'getaddrinfo' && typeof detail.hostname === 'string') {
    const host = detail.hostname;
    const listens = host === server.host || (metrics.port !== undefined && host === metrics.host);
    // The same name in DATABASE_URL or REDIS_URL would make the failure theirs, not the listener's.
    const backend = host === hostOf(config.database.url) || host === hostOf(config.redis.url);
    if (!listens || backend) return undefined;
    return {
      message: `cannot listen on ${host} (${hostSetting(host)}): no such address or host name (${code ?? 'unknown error'}). Fix: set it to an address of this machine, such as 127.0.0.1 or 0.0.0.0.`,
      exitCode: 78,
    };
  }
  if (detail.syscall !== 'listen') return undefined;
  const port = typeof detail.port === 'number' ? detail.port : undefined;
  const address = typeof detail.address === 'string' ? detail.address : server.host;
  const portSetting =
    port === metrics.port
      ? 'BULWARK_METRICS_PORT (metrics.port)'
      : port === server.httpRedirectPort
        ? 'BULWARK_SERVER_HTTP_REDIRECT_PORT (server.httpRedirectPort)'
        : 'PORT (server.port)';
  const where = `port ${port ?? '?'} on ${address}`;
  switch (code) {
    case 'EADDRINUSE':
      return {
        message: `${where} is already in use. Fix: stop the process that holds it, or set ${portSetting} to a free port.`,
        exitCode: 1,
      };
    case 'EACCES':
      return {
        message: `not allowed to listen on ${where}: ports below 1024 need privileges. Fix: set ${portSetting} to 1024 or above (a proxy or load balancer can take 443), or grant the process CAP_NET_BIND_SERVICE.`,
        exitCode: 1,
      };
    case 'EADDRNOTAVAIL':
      return {
        message: `cannot listen on ${address} (${hostSetting(address)}): it is not an address of this machine. Fix: set it to an address of this machine, such as 127.0.0.1 or 0.0.0.0.`,
        exitCode: 78,
      };
    default:
      return {
        message: `cannot listen on ${where} (${portSetting}): ${messageOf(error)}`,
        exitCode: 1,
      };
  }
}

/**
 * One line an operator can act on. Never includes the database URL (it usually carries a
 * password) nor key material: driver messages name hosts and tables, never credentials.
 */
export function describeFailure(error: unknown, config: Config): string {
  if (error instanceof DecryptionError) {
    const source =
      config.keys.masterKey !== undefined
        ? 'BULWARK_MASTER_KEY (keys.masterKey)'
        : config.keys.masterKeyFile !== undefined
          ? `keys.masterKeyFile ${config.keys.masterKeyFile}`
          : `the development key file ${config.keys.devKeyFile}`;
    return (
      `cannot decrypt the signing keys stored in the database with the master key from ${source}: ` +
      `${error.reason.replaceAll('_', ' ')}. Fix: use the master key this database was set up with.`
    );
  }
  const postgres = config.database.url !== undefined;
  const where = postgres
    ? 'the PostgreSQL database (DATABASE_URL)'
    : `the SQLite database ${config.database.sqlitePath}`;
  const message = messageOf(error);
  const code = codeOf(error);
  if (postgres && code === 'ERR_INVALID_URL') {
    // Node's message would be "Invalid URL" alone; its `input` is the URL, password and all.
    return 'DATABASE_URL (database.url) is not a valid URL. Fix: check the port, and %-encode special characters in the user name and password.';
  }
  // SQLSTATE 42P01 undefined_table; SQLite says "no such table".
  if (code === '42P01' || /no such table/i.test(message)) {
    return `${where} has no Bulwark tables, or older ones (${message}). Fix: run \`bulwark migrate\`.`;
  }
  // SQLSTATE classes 08 (connection), 28 (authorization), 3D000 (no such database).
  const refused =
    (code !== undefined && (UNREACHABLE.has(code) || /^(08|28)/.test(code) || code === '3D000')) ||
    /timeout exceeded when trying to connect|connection terminated|support SSL/i.test(message);
  if (refused) {
    return `cannot connect to ${where}: ${message}. Fix: check that PostgreSQL is running and reachable from here, and the host, port, user, password and database name in DATABASE_URL.`;
  }
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
    return `${where}: ${message}. Fix: point BULWARK_DATABASE_SQLITE_PATH (database.sqlitePath) at the Bulwark database, or restore it from a backup.`;
  }
  // Its directory is made when missing: a path through a file, or through a link to nothing (a
  // volume that is not mounted), cannot be.
  if (!postgres && (code === 'EEXIST' || code === 'ENOTDIR' || code === 'ELOOP')) {
    return `${where}: ${message}. Fix: a part of its directory's path is not a directory (a file, or a link to a volume that is not mounted); mount it or fix the path, or set BULWARK_DATABASE_SQLITE_PATH (database.sqlitePath) to another.`;
  }
  if (
    code === 'SQLITE_CANTOPEN' ||
    code === 'SQLITE_READONLY' ||
    code === 'EACCES' ||
    code === 'EPERM' ||
    code === 'EROFS'
  ) {
    return `${where}: ${message}. Fix: let this user write the file and its directory, or set BULWARK_DATABASE_SQLITE_PATH (database.sqlitePath) to a writable path.`;
  }
  if (code?.startsWith('SQLITE_') || code === 'EISDIR' || code === 'ENOENT')
    return `${where}: ${message}`;
  return message;
}
