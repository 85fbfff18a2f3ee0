import type { FastifyPluginAsync } from 'fastify';
import { buildApp, type BuildAppOptions, type BulwarkApp } from './app.js';
import type { Config } from './config/index.js';
import { MetricsServer } from './metrics/metrics-server.js';

export interface StartOptions extends BuildAppOptions {
  /** Extra plugins (a team's own routes) registered after Bulwark's. */
  plugins?: FastifyPluginAsync[];
}

export interface RunningServer {
  app: BulwarkApp;
  /** Base URL the server listens on, e.g. http://127.0.0.1:3000 */
  url: string;
  /** URL of the separate metrics listener, when metrics.port is set. */
  metricsUrl: string | undefined;
  /** Stops accepting connections, lets in-flight requests finish, then closes the app. */
  close(): Promise<void>;
}

/** Builds the app and listens on the configured host and port. */
export async function startServer(
  config: Config,
  options: StartOptions = {},
): Promise<RunningServer> {
  const app = await buildApp(config, options);
  for (const plugin of options.plugins ?? []) await app.register(plugin);
  let metricsServer: MetricsServer | undefined;
  let metricsUrl: string | undefined;
  try {
    if (config.metrics.port !== undefined) {
      metricsServer = new MetricsServer(app.services.metrics, config.metrics.token);
      metricsUrl = await metricsServer.listen(config.metrics.host, config.metrics.port);
    }
  } catch (error) {
    await app.close();
    throw error;
  }
  let url: string;
  try {
    url = await app.listen({ host: config.server.host, port: config.server.port });
  } catch (error) {
    await metricsServer?.close();
    await app.close();
    throw error;
  }
  return {
    app,
    url,
    metricsUrl,
    close: async () => {
      app.readiness.drain();
      await metricsServer?.close();
      await app.close();
    },
  };
}

/**
 * Runs the service as a process: listens, and on SIGTERM or SIGINT stops taking new connections,
 * lets in-flight requests finish (up to server.shutdownTimeoutMs), then exits 0. A second signal,
 * or the timeout, exits 1 at once.
 */
export async function runServer(
  config: Config,
  options: StartOptions = {},
): Promise<RunningServer> {
  const server = await startServer(config, options);
  const log = server.app.log;
  let stopping = false;

  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info(
      { signal, timeoutMs: config.server.shutdownTimeoutMs },
      'shutting down: finishing in-flight requests',
    );
    const timer = setTimeout(() => {
      log.error({ timeoutMs: config.server.shutdownTimeoutMs }, 'shutdown timed out: exiting');
      process.exit(1);
    }, config.server.shutdownTimeoutMs);
    timer.unref();
    server.close().then(
      () => {
        log.info('shutdown complete');
        process.exit(0);
      },
      (error: unknown) => {
        log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  log.info(
    { url: server.url, metricsUrl: server.metricsUrl, env: config.env },
    'bulwark listening',
  );
  return server;
}
