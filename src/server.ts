import type { FastifyPluginAsync } from 'fastify';
import type { Server as HttpServer } from 'node:http';
import type { Server as TlsServer } from 'node:tls';
import { buildApp, loggerFor, type BuildAppOptions, type BulwarkApp } from './app.js';
import type { Config } from './config/index.js';
import { ConfigError } from './errors.js';
import { createRedirectServer } from './http/https-redirect.js';
import { readTlsCredentials, secureContextOptions } from './http/tls.js';
import { MetricsServer } from './metrics/metrics-server.js';
import { startCheckpoint } from './start-checkpoint.js';

/** What startServer takes besides the config: buildApp's options and a team's own plugins. */
export interface StartOptions extends BuildAppOptions {
  /** Extra plugins (a team's own routes) registered after Bulwark's. */
  plugins?: FastifyPluginAsync[];
}

/** A listening Bulwark server: its app, its URLs, and how to stop it gracefully. */
export interface RunningServer {
  app: BulwarkApp;
  /** Base URL the server listens on, e.g. http://127.0.0.1:3000 */
  url: string;
  /** URL of the separate metrics listener, when metrics.port is set. */
  metricsUrl: string | undefined;
  /** URL of the plain-HTTP redirect listener, when server.httpRedirectPort is set. */
  redirectUrl: string | undefined;
  /**
   * Re-reads tls.certFile and tls.keyFile and serves them to new connections; open connections
   * keep theirs. On a bad file the current certificate stays and the error is thrown.
   */
  reloadTls(): void;
  /** Stops accepting connections, lets in-flight requests finish, then closes the app. */
  close(): Promise<void>;
}

/** Builds the app and listens on the configured host and port. */
export async function startServer(
  config: Config,
  options: StartOptions = {},
): Promise<RunningServer> {
  // buildApp runs the production posture checks first, then reads the TLS files.
  const app = await buildApp(config, options);
  for (const plugin of options.plugins ?? []) await app.register(plugin);
  let metricsServer: MetricsServer | undefined;
  let metricsUrl: string | undefined;
  let redirectServer: HttpServer | undefined;
  let redirectUrl: string | undefined;
  const closeListeners = async (): Promise<void> => {
    await metricsServer?.close();
    if (redirectServer) await closeHttpServer(redirectServer);
  };
  try {
    await startCheckpoint(options.signal);
    if (config.metrics.port !== undefined) {
      metricsServer = new MetricsServer(
        app.services.metrics,
        config.metrics.token,
        app.services.events,
      );
      metricsUrl = await metricsServer.listen(config.metrics.host, config.metrics.port);
    }
    if (config.server.httpRedirectPort !== undefined && config.server.publicOrigin !== undefined) {
      redirectServer = createRedirectServer({
        publicOrigin: config.server.publicOrigin,
        requestTimeoutMs: config.server.requestTimeoutMs,
      });
      redirectUrl = await listenHttp(
        redirectServer,
        config.server.host,
        config.server.httpRedirectPort,
      );
    }
  } catch (error) {
    await closeListeners();
    await app.close();
    throw error;
  }
  let url: string;
  try {
    // The last point to stop at: past it the port is open, and only a graceful close stops it.
    await startCheckpoint(options.signal);
    url = await app.listen({ host: config.server.host, port: config.server.port });
  } catch (error) {
    await closeListeners();
    await app.close();
    throw error;
  }
  // A minute after the start, then hourly: old sessions, e-mail links and expired signing keys go
  // (db/housekeeping.ts).
  app.services.housekeeping.start({ firstDelayMs: 60_000, intervalMs: 3_600_000 }, (outcome) => {
    if (outcome.error !== undefined) {
      app.log.warn({ err: outcome.error }, 'housekeeping failed; the next run tries again');
    } else if (Object.values(outcome.result!).some((deleted) => deleted > 0)) {
      app.log.info(
        { deleted: outcome.result },
        'housekeeping: deleted old sessions, e-mail links and signing keys',
      );
    }
  });
  return {
    app,
    url,
    metricsUrl,
    redirectUrl,
    reloadTls: () => {
      if (config.tls.certFile === undefined) return;
      // Read and checked in full first: a bad file throws here and the old context stays.
      const next = readTlsCredentials(config.tls);
      (app.server as unknown as TlsServer).setSecureContext(secureContextOptions(config.tls, next));
    },
    close: async () => {
      app.readiness.drain();
      await closeListeners();
      await app.close();
    },
  };
}

function listenHttp(server: HttpServer, host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const address = server.address();
      const bound = typeof address === 'object' && address !== null ? address.port : port;
      resolve(`http://${host.includes(':') ? `[${host}]` : host}:${bound}`);
    });
  });
}

function closeHttpServer(server: HttpServer): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    // Redirect connections carry no work worth waiting for.
    server.closeAllConnections();
  });
}

/** Longest wait for the log to be written out before the process exits anyway. */
const EXIT_FLUSH_TIMEOUT_MS = 2_000;

/**
 * Runs the service as a process: listens, and on SIGTERM or SIGINT stops taking new connections,
 * lets in-flight requests finish (up to server.shutdownTimeoutMs), then exits 0. A second signal,
 * or the timeout, exits 1 at once. SIGHUP reloads the TLS certificate (with TLS) and re-reads the
 * signing keys. An unhandled promise rejection is logged (error) and the process goes on; an
 * uncaught exception is logged (fatal) and stops it the same graceful way, with exit code 1.
 * SIGTERM or SIGINT during start-up stops the start-up at its next step, closes what it opened,
 * and exits 0 without ever listening; SIGHUP during start-up reloads certificate and keys once
 * started.
 */
export async function runServer(
  config: Config,
  options: StartOptions = {},
): Promise<RunningServer> {
  // Made here rather than by buildApp, so that a signal during start-up can be logged.
  const log = loggerFor(config, options.logger);
  // Aborted by a signal during start-up. Start-up is aborted, not finished and then shut down:
  // an orchestrator that stops an instance while it starts (a rollout that moves on, a scale-down)
  // wants it gone within its grace period, and start-up can wait on purpose (Redis for
  // redis.connectTimeoutMs). So the step in progress ends (the Redis wait at once, a migration
  // only once done), nothing further opens (above all not the port, so no request is taken only
  // to be cut short), what was opened is closed, and the exit code is a graceful shutdown's. The
  // shutdown timeout bounds it all as it bounds any shutdown.
  const startup = new AbortController();
  let server: RunningServer | undefined;
  let stopping = false;

  // Exits once the lines logged so far are out: written on the thread pool, a line still in
  // flight at process.exit would land after the lines flushed at exit, or be lost, and the log
  // would not end with the line that says how the process ended. Bounded, in case the output
  // is stuck (a full pipe nobody reads).
  const exit = (code: number): void => {
    const fallback = setTimeout(() => process.exit(code), EXIT_FLUSH_TIMEOUT_MS);
    log.flush(() => {
      clearTimeout(fallback);
      process.exit(code);
    });
  };
  const closeAndExit = (closing: Promise<void>): void => {
    closing.then(
      () => {
        log.info('shutdown complete');
        exit(Number(process.exitCode ?? 0));
      },
      (error: unknown) => {
        log.error({ err: error }, 'shutdown failed');
        exit(1);
      },
    );
  };
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      exit(1);
      return;
    }
    stopping = true;
    const timer = setTimeout(() => {
      log.error({ timeoutMs: config.server.shutdownTimeoutMs }, 'shutdown timed out: exiting');
      exit(1);
    }, config.server.shutdownTimeoutMs);
    timer.unref();
    if (server === undefined) {
      log.info(
        { signal, timeoutMs: config.server.shutdownTimeoutMs },
        'shutting down during start-up',
      );
      startup.abort();
      return; // the start-up below closes what it opened, then exits
    }
    log.info(
      { signal, timeoutMs: config.server.shutdownTimeoutMs },
      'shutting down: finishing in-flight requests',
    );
    closeAndExit(server.close());
  };
  // SIGHUP: the TLS certificate is reloaded and the signing keys are read again (Node's default
  // would exit, so a `systemctl reload` or a closed terminal would stop the instance abruptly).
  // The keys: without Redis nothing announces `bulwark keys rotate` to a running instance, which
  // finds it at its next periodic re-read (within a minute); after `--revoke-old` for a leaked
  // key, SIGHUP makes it refuse that key's tokens at once, without a restart. One during
  // start-up is noted and the reload runs once the server is up: the certificate or the keys may
  // have been read before the new ones were put in place.
  let reloadWanted = false;
  const hangUp = (): void => {
    if (server === undefined) {
      reloadWanted = true;
      log.info(
        { signal: 'SIGHUP' },
        `SIGHUP during start-up: the ${config.tls.certFile === undefined ? '' : 'certificate and the '}signing keys are reloaded once started`,
      );
      return;
    }
    // Not while stopping: the database may already be closed, and nothing will sign any more.
    const keys = server.app.services.signingKeys;
    if (!stopping) {
      keys.reloadAfterRotation(null).then(
        () => log.info({ signal: 'SIGHUP', kid: keys.signingKey().kid }, 'signing keys re-read'),
        (error: unknown) =>
          log.error(
            { err: error },
            'signing keys re-read failed: the keys read before stay in use',
          ),
      );
    }
    if (config.tls.certFile === undefined) return;
    try {
      server.reloadTls();
      log.info({ certFile: config.tls.certFile }, 'TLS certificate reloaded');
    } catch (error) {
      // A ConfigError names the file and the fix, never key material; other text is dropped.
      const reason =
        error instanceof ConfigError
          ? error.problems.join(' ')
          : 'the new certificate and key could not be loaded';
      log.error(
        { certFile: config.tls.certFile, keyFile: config.tls.keyFile, reason },
        'TLS certificate reload failed: still serving the previous certificate',
      );
    }
  };
  // Before anything opens: a signal from here on is always logged and handled.
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('SIGHUP', hangUp);
  try {
    server = await startServer(config, {
      ...options,
      logger: log,
      signal:
        options.signal === undefined
          ? startup.signal
          : AbortSignal.any([options.signal, startup.signal]),
    });
  } catch (error) {
    // startServer, buildApp and createServices close what they opened before they reject.
    if (startup.signal.aborted && error === startup.signal.reason) {
      closeAndExit(Promise.resolve());
      return new Promise<never>(() => undefined); // the process exits
    }
    // A start-up that failed on its own: the caller reports it (bulwark serve: one line).
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
    process.off('SIGHUP', hangUp);
    throw error;
  }
  if (startup.signal.aborted) {
    // The signal came after the last check, while the port was opening: close it gracefully.
    closeAndExit(server.close());
    return server;
  }
  // A promise nobody awaited (a handler's or plugin's fire-and-forget work) failed: that work is
  // lost, but the process and every other request are fine, so it is logged, not fatal.
  process.on('unhandledRejection', (reason: unknown) => {
    log.error(
      { err: reason },
      'unhandled promise rejection (a bug): the work it belonged to failed',
    );
  });
  // An exception escaped every handler: the process state is unknown. Stop the way SIGTERM does
  // (in-flight requests finish, bounded by the shutdown timeout), then exit 1.
  process.on('uncaughtException', (error: Error) => {
    log.fatal({ err: error }, 'uncaught exception (a bug): shutting down');
    process.exitCode = 1;
    if (!stopping) stop('SIGTERM');
  });
  log.info(
    {
      url: server.url,
      metricsUrl: server.metricsUrl,
      redirectUrl: server.redirectUrl,
      env: config.env,
    },
    'bulwark listening',
  );
  if (reloadWanted) hangUp();
  return server;
}
