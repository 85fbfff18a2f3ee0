import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import type { Config } from '../config/index.js';

/** Keys whose values never reach a log line, at any depth. */
const SECRET_KEY =
  /pass(word)?|secret|token|authorization|cookie|api[-_]?key|private|credential|otp|master[-_]?key/i;
const REDACTED = '[redacted]';
const MAX_DEPTH = 8;

/**
 * Returns a copy of `value` with every secret-looking key's value replaced. pino's own `redact`
 * only knows fixed paths; a password can hide at any depth of a logged object.
 */
export function redactSecrets(value: unknown, depth = 0, seen = new WeakSet<object>()): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (value instanceof Error) return value; // serialised by pino's err serializer, see below
  if (seen.has(value)) return '[circular]';
  if (depth >= MAX_DEPTH) return '[truncated]';
  seen.add(value);
  if (Array.isArray(value)) return value.map((item) => redactSecrets(item, depth + 1, seen));
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) {
    out[key] = SECRET_KEY.test(key) ? REDACTED : redactSecrets(child, depth + 1, seen);
  }
  return out;
}

/** pino options: JSON lines, secrets redacted wherever they appear. */
export function loggerOptions(config: Config['log']): LoggerOptions {
  return {
    level: config.level,
    base: { service: 'bulwark' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: {
      level: (label) => ({ level: label }),
      log: (object) => redactSecrets(object) as Record<string, unknown>,
    },
    serializers: {
      err: (error: Error) => {
        const serialised = pino.stdSerializers.err(error);
        return redactSecrets(serialised) as typeof serialised;
      },
    },
  };
}

/** Creates the service logger, writing to `destination` (stdout by default). */
export function createLogger(config: Config['log'], destination?: DestinationStream): Logger {
  return destination ? pino(loggerOptions(config), destination) : pino(loggerOptions(config));
}

/**
 * One access line per request: method, route template, status, duration and request id. The raw
 * URL is not logged: its query string may carry something secret.
 */
export const accessLog = fp(
  function accessLog(app: FastifyInstance): void {
    app.addHook('onResponse', (request, reply, done) => {
      // Above info (production benchmarks, quiet deployments) the line would be dropped anyway:
      // skip building it (the route lookup allocates).
      if ((request.log as Partial<Logger>).isLevelEnabled?.('info') === false) {
        done();
        return;
      }
      request.log.info(
        {
          method: request.method,
          route: request.routeOptions.url ?? '(unmatched)',
          status: reply.statusCode,
          durationMs: Math.round(reply.elapsedTime * 100) / 100,
        },
        'request completed',
      );
      done();
    });
  },
  { name: 'bulwark-access-log' },
);
