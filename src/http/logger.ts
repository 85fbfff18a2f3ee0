import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import {
  pino,
  type Bindings,
  type ChildLoggerOptions,
  type DestinationStream,
  type Logger,
  type LoggerOptions,
} from 'pino';
import type { Config } from '../config/index.js';
import { setOwn } from '../config/json.js';

/** Keys whose values never reach a log line, at any depth. */
const SECRET_KEY =
  /pass(word)?|secret|token|authorization|cookie|api[-_]?key|private|credential|otp|mfa[-_]?code|recovery[-_]?codes?|master[-_]?key/i;
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
    // setOwn: an own `__proto__` key (JSON.parse makes them) stays in the log line.
    setOwn(out, key, SECRET_KEY.test(key) ? REDACTED : redactSecrets(child, depth + 1, seen));
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
  // stdout is written asynchronously, on the thread pool, as pino does by default (a synchronous
  // write(2) per access line cost ~12 µs of CPU per request at level info). minLength 1 changes
  // nothing about when lines are written, but makes `logger.flush(cb)` wait until the lines in
  // flight are out: the process calls it before it exits (src/server.ts), or a line still being
  // written would land after the lines flushed at exit, or be lost.
  return pino(
    loggerOptions(config),
    destination ?? pino.destination({ dest: 1, sync: false, minLength: 1 }),
  );
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

const kParent = Symbol('bulwark.logParent');
const kBindings = Symbol('bulwark.logBindings');
const kOptions = Symbol('bulwark.logOptions');
const kChild = Symbol('bulwark.logChild');

interface LazyLogger {
  [kParent]: Logger;
  [kBindings]: Bindings;
  [kOptions]: ChildLoggerOptions;
  [kChild]: Logger | undefined;
}

/** The real child: created on first need, exactly as Fastify's default factory would. */
function materialise(lazy: LazyLogger): Logger {
  return (lazy[kChild] ??= lazy[kParent].child(lazy[kBindings], lazy[kOptions]));
}

const lazyPrototypes = new WeakMap<Logger, object>();

/**
 * Methods of a request logger that has not needed its pino child yet. Everything else (levels,
 * flush, …) is inherited from the parent, whose values they are until the child exists.
 */
function lazyPrototype(parent: Logger): object {
  let prototype = lazyPrototypes.get(parent);
  if (prototype !== undefined) return prototype;
  const methods: PropertyDescriptorMap = {
    child: {
      value(this: LazyLogger, bindings: Bindings, options?: ChildLoggerOptions) {
        return materialise(this).child(bindings, options);
      },
    },
    bindings: {
      value(this: LazyLogger) {
        return materialise(this).bindings();
      },
    },
    setBindings: {
      value(this: LazyLogger, bindings: Bindings) {
        materialise(this).setBindings(bindings);
      },
    },
    isLevelEnabled: {
      value(this: LazyLogger, level: string) {
        return (this[kChild] ?? this[kParent]).isLevelEnabled(level);
      },
    },
    level: {
      get(this: LazyLogger) {
        return (this[kChild] ?? this[kParent]).level;
      },
      set(this: LazyLogger, level: string) {
        materialise(this).level = level;
      },
    },
    levelVal: {
      get(this: LazyLogger) {
        return (this[kChild] ?? this[kParent]).levelVal;
      },
    },
  };
  for (const level of Object.keys(parent.levels.values)) {
    methods[level] = {
      value(this: LazyLogger, ...args: unknown[]) {
        // A disabled level costs nothing and creates nothing (pino's own methods are no-ops then).
        const logger =
          this[kChild] ?? (this[kParent].isLevelEnabled(level) ? materialise(this) : undefined);
        if (logger === undefined) return;
        const log: (...parts: unknown[]) => void = logger[level as 'info'];
        log.apply(logger, args);
      },
    };
  }
  prototype = Object.create(parent, methods) as object;
  lazyPrototypes.set(parent, prototype);
  return prototype;
}

/**
 * Fastify's childLoggerFactory: each request's logger (request.log, with the request id bound)
 * is a pino child created only when the request logs something at an enabled level. Most
 * requests log nothing (access lines are one `info` at the end, off above info), and creating a
 * pino child per request (its bindings serialised, its formatters rebuilt) was ~1.5% of the CPU
 * of an authenticated request. Routes with their own log level or serializers get a real child
 * at once, as before.
 */
export function lazyChildLogger(
  logger: FastifyBaseLogger,
  bindings: Bindings,
  options: ChildLoggerOptions,
): FastifyBaseLogger {
  const parent = logger as Logger;
  if (
    options.level !== undefined ||
    options.serializers !== undefined ||
    typeof parent.isLevelEnabled !== 'function' ||
    parent.levels === undefined
  ) {
    return logger.child(bindings, options);
  }
  const lazy = Object.create(lazyPrototype(parent)) as LazyLogger;
  lazy[kParent] = parent;
  lazy[kBindings] = bindings;
  lazy[kOptions] = options;
  lazy[kChild] = undefined;
  return lazy as unknown as FastifyBaseLogger;
}
