import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type RawServerDefault,
} from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DestinationStream, Logger } from 'pino';
import type { Config } from './config/index.js';
import {
  answerUnhandledRequests,
  clientErrorHandler,
  closeFailedHandshakes,
} from './http/client-error.js';
import { refuseAmbiguousHeaders } from './http/duplicate-headers.js';
import { closeConnectionsOnClose } from './http/graceful-close.js';
import { cors } from './http/cors.js';
import { apiDocs } from './http/docs.js';
import { installErrorHandling, sendMalformedUrl } from './http/error-handler.js';
import { health } from './http/health.js';
import { jsonOnly } from './http/json-body.js';
import { accessLog, createLogger, lazyChildLogger } from './http/logger.js';
import { trackRouteMethods } from './http/method-not-allowed.js';
import { REQUEST_ID_HEADER, requestIdFor } from './http/request-id.js';
import { requestTimeoutOptions } from './http/request-timeout.js';
import { refuseContentWithoutBodySchema } from './http/no-body.js';
import { NoQuery } from './http/schema.js';
import {
  API_SECURITY_HEADERS,
  hstsValue,
  isHttpsRequest,
  securityHeaders,
} from './http/security-headers.js';
import { readTlsCredentials, secureContextOptions, type TlsCredentials } from './http/tls.js';
import { assertStrictSchema } from './http/assert-strict-schema.js';
import { buildSerializer } from './http/serialization.js';
import { buildValidator } from './http/validation.js';
import { canonicalizeUuidFields } from './http/uuid-params.js';
import { apiVersioning, rewriteApiVersion } from './http/versioning.js';
import { apiIndex } from './http/api-index.js';
import { authentication } from './access/authenticate.js';
import { accountEmailAdminRoutes, accountEmailRoutes } from './auth/account-email-routes.js';
import { emailChangeRoutes } from './auth/email-change-routes.js';
import { authRoutes } from './auth/routes.js';
import { mfaAdminRoutes, mfaRoutes } from './auth/mfa-routes.js';
import { policySpecs, rateLimiting } from './rate-limit/index.js';
import { jwksRoute } from './auth/jwks-route.js';
import { assertProductionPosture } from './posture/index.js';
import { createServices, type Services } from './services.js';
import { version } from './version.js';
import { usersRoutes } from './users/routes.js';
import { oidcRoutes } from './oidc/routes.js';
import { auditRoutes } from './audit/routes.js';
import { httpMetrics } from './metrics/http-metrics.js';
import { Metrics } from './metrics/metrics.js';
import { metricsRoute } from './metrics/metrics-route.js';
import { eventLoopTurn, startCheckpoint } from './start-checkpoint.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The shared services (database, keys, tokens, users); for library users and tests. */
    services: Services;
  }
}

/** The Fastify instance Bulwark builds, typed for TypeBox route schemas. */
export type BulwarkApp = FastifyInstance<
  RawServerDefault,
  IncomingMessage,
  ServerResponse,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

/**
 * What buildApp takes besides the config: logger, clock, in-memory TLS credentials, the config
 * file, an abort signal.
 */
export interface BuildAppOptions {
  /** A ready logger, or a stream for the default JSON logger (tests capture logs this way). */
  logger?: Logger | DestinationStream;
  /** Clock for time-dependent policies (API sunset); tests move it. */
  now?: () => number;
  /**
   * Certificate and key to serve instead of reading tls.certFile / tls.keyFile (for callers that
   * hold them in memory, e.g. from a secret store). Only used when tls.certFile is set.
   */
  tls?: TlsCredentials;
  /**
   * The JSON file the config was loaded from (`bulwark serve --config FILE`). Production refuses
   * to start when it holds secrets and group or others can read it, as `bulwark doctor` reports.
   */
  configFile?: string;
  /**
   * Stops start-up at its next step when aborted (a signal during start-up): what was opened is
   * closed, and buildApp rejects with the signal's reason.
   */
  signal?: AbortSignal;
}

/** The logger buildApp uses: the one given, or the default JSON logger (to the stream given). */
export function loggerFor(config: Config, given?: Logger | DestinationStream): Logger {
  return isLogger(given) ? given : createLogger(config.log, given);
}

function isLogger(value: unknown): value is Logger {
  return (
    typeof value === 'object' && value !== null && typeof (value as Logger).child === 'function'
  );
}

/**
 * Builds the Bulwark service from a validated config: the secure HTTP pipeline and every
 * capability, in the order of SPEC.md's "Shape of the code". Never listens; see server.ts.
 */
export async function buildApp(config: Config, options: BuildAppOptions = {}): Promise<BulwarkApp> {
  await startCheckpoint(options.signal);
  // Before anything opens a file or a connection: production never starts on a failing check.
  assertProductionPosture(
    config,
    options.configFile === undefined ? {} : { configFile: options.configFile },
  );
  const logger = loggerFor(config, options.logger);

  // Typed as Fastify's logger so the instance keeps Fastify's default logger type.
  const loggerInstance: FastifyBaseLogger = logger;
  const tls =
    config.tls.certFile === undefined ? undefined : (options.tls ?? readTlsCredentials(config.tls));
  const hsts = hstsValue(config.hsts);
  // Options for Node's server so that requestTimeout holds (see requestTimeoutOptions). Fastify
  // reads `http` only when `https` is null; spread, as the call is typed by the HTTPS overload.
  const timeouts = requestTimeoutOptions(config.server.requestTimeoutMs);
  // Fastify types an instance by its server class. An HTTPS server runs the same handlers; only
  // server.ts touches the TLS side (setSecureContext on SIGHUP), so the app keeps one type.
  const app = Fastify({
    https:
      tls === undefined
        ? null
        : {
            ...secureContextOptions(config.tls, tls),
            ...timeouts,
            // The request timeout starts once the handshake is done; this bounds the handshake
            // itself by the same time (Node's default is 120 s).
            handshakeTimeout: config.server.requestTimeoutMs,
            requireHostHeader: false,
          },
    // refuseAmbiguousHeaders answers a missing Host instead, in the problem shape.
    ...{ http: { ...timeouts, requireHostHeader: false } },
    loggerInstance,
    // request.log becomes a pino child only when the request logs something.
    childLoggerFactory: lazyChildLogger,
    // One access line per request comes from accessLog instead of Fastify's two.
    logController: new LogController({
      disableRequestLogging: true,
      requestIdLogLabel: 'requestId',
    }),
    genReqId: requestIdFor,
    bodyLimit: config.http.bodyLimitBytes,
    trustProxy: config.server.trustProxy.length > 0 ? [...config.server.trustProxy] : false,
    requestTimeout: config.server.requestTimeoutMs,
    // A connection on which no byte moves either way for twice the request timeout is closed. A
    // client that sends complete requests and stops reading the answers has no request in
    // progress, so requestTimeout never fires, and Node's inactivity timeout is off by default:
    // one 63 KB write of pipelined requests held 110 MB of answers for as long as it liked.
    connectionTimeout: 2 * config.server.requestTimeoutMs,
    keepAliveTimeout: config.server.keepAliveTimeoutMs,
    // Answered by refuseWhileClosing instead, in the problem shape (see closeConnectionsOnClose).
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    // Requests Node's parser refuses (bad framing, 431, 408) never reach a hook: same shape anyway.
    clientErrorHandler: clientErrorHandler({ hsts, log: logger }),
    rewriteUrl: (req) => rewriteApiVersion(req),
    // Malformed URLs fail before any hook runs: answer them in the same problem shape anyway.
    frameworkErrors: (error, request, reply) => {
      reply.headers(API_SECURITY_HEADERS).header(REQUEST_ID_HEADER, request.id);
      if (isHttpsRequest(request)) reply.header('strict-transport-security', hsts);
      void sendMalformedUrl(reply, request, error);
    },
    routerOptions: { ignoreTrailingSlash: true, ignoreDuplicateSlashes: true, maxParamLength: 200 },
    // Our Ajv options for every context; shared schemas (app.addSchema) reach the Ajv that compiles.
    schemaController: { compilersFactory: { buildValidator, buildSerializer } },
  }).withTypeProvider<TypeBoxTypeProvider>() as unknown as BulwarkApp;

  // CONNECT and an unmet Expect are answered by Node's server itself, never by Fastify.
  answerUnhandledRequests(app.server, { hsts, log: logger });
  if (tls !== undefined) closeFailedHandshakes(app.server, logger);
  // Node drops header lines past maxHeadersCount (1000 by default) without a word, so a second
  // Host or Authorization behind filler lines went unseen by refuseAmbiguousHeaders. No count
  // limit (0): the header size limit (16 KiB, a 431 past it) bounds them instead.
  app.server.maxHeadersCount = 0;
  const routeMethods = trackRouteMethods(app);
  // Before any plugin adds a route: a route keeps the error handler of its registration time,
  // and @fastify/cors's OPTIONS route would otherwise answer its errors in Fastify's own shape.
  installErrorHandling(app, routeMethods);
  // `this` is the plugin context the route is registered in: its shared schemas are the ones the
  // route's $refs can reach, so a referenced schema is checked like an inline one.
  app.addHook('onRoute', function (route) {
    // Like NoQuery for the query string: a route that declares no body takes none.
    refuseContentWithoutBodySchema(route);
    if (route.url.startsWith('/docs')) return; // swagger-ui's static asset routes
    route.schema ??= {};
    route.schema.querystring ??= NoQuery;
    canonicalizeUuidFields(route);
    const where = `${String(route.method)} ${route.url}`;
    const schemas = this.getSchemas();
    assertStrictSchema(route.schema.body, `${where} body`, { schemas });
    assertStrictSchema(route.schema.querystring, `${where} querystring`, { schemas });
    assertStrictSchema(route.schema.params, `${where} params`, { schemas });
    assertStrictSchema(route.schema.headers, `${where} headers`, {
      schemas,
      allowExtraProperties: true,
    });
  });

  const policies = policySpecs(config.rateLimit);
  app.addHook('onRoute', (route) => {
    const policy: unknown = route.config?.rateLimit;
    if (policy === undefined || policy === false) return;
    if (typeof policy !== 'string' || !policies.has(policy)) {
      throw new Error(
        `${String(route.method)} ${route.url}: config.rateLimit is ${JSON.stringify(policy)}, which is not a rate-limit policy. Fix: use false, ${[...policies.keys()].map((name) => `"${name}"`).join(', ')}, or define it in rateLimit.policies.`,
      );
    }
  });

  // The pipeline, in order: request id -> security headers -> CORS -> version routing -> ...
  app.addHook('onRequest', (request, reply, done) => {
    reply.header(REQUEST_ID_HEADER, request.id);
    done();
  });
  const refuseWhileClosing = closeConnectionsOnClose(app);
  // First after the request id, so durations cover the whole pipeline.
  const metrics = new Metrics();
  metrics.collectDefaults();
  await app.register(httpMetrics, { metrics });
  await app.register(securityHeaders, { hsts });
  // Before anything reads Host or Authorization (CORS, versioning, rate limit, authenticate).
  app.addHook('onRequest', refuseAmbiguousHeaders);
  await app.register(cors, { config: config.cors });
  // After CORS, so that a browser can read the 503 (see closeConnectionsOnClose).
  app.addHook('onRequest', refuseWhileClosing);
  await app.register(apiVersioning, {
    config: config.api,
    ...(options.now ? { now: options.now } : {}),
  });
  // Services come before the body step so the rate limiter (step 5) can sit right here.
  const services = await createServices(config, {
    logger,
    metrics,
    ...(options.now ? { now: options.now } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  app.decorate('services', services);
  app.addHook('onClose', () => services.close());
  // What follows only registers routes; the services are what a stop must close.
  if (options.signal) await eventLoopTurn();
  if (options.signal?.aborted) {
    await app.close();
    options.signal.throwIfAborted();
  }
  if (services.rateLimits) {
    await app.register(rateLimiting, {
      limits: services.rateLimits,
      tokens: services.accessTokens,
      events: services.events,
      sessions: services.sessionState,
    });
  }
  jsonOnly(app, config.http.maxJsonDepth);
  await app.register(accessLog);

  await app.register(apiDocs, { version, serveUi: config.docs.enabled });
  await app.register(health);
  await app.register(apiIndex, {
    prefix: '/api/v1',
    version: 1,
    config: config.api,
    docsEnabled: config.docs.enabled,
    ...(options.now ? { now: options.now } : {}),
  });

  app.readiness.register('database', () => services.db.ping());
  if (services.store.kind === 'redis') {
    // failOpen: an outage degrades this instance (limits per instance) but it keeps serving, so
    // it stays in the load balancer; failClosed: it is not ready.
    const store = services.store;
    app.readiness.register('redis', () => store.readiness());
  }

  await app.register(authentication, {
    tokens: services.accessTokens,
    sessions: services.sessionState,
    permissions: services.permissions,
    events: services.events,
    ...(options.now ? { now: options.now } : {}),
  });
  await app.register(jwksRoute, { keys: services.signingKeys });
  await app.register(authRoutes, { prefix: '/api/v1/auth', auth: services.auth });
  if (services.accountEmail) {
    await app.register(accountEmailRoutes, {
      prefix: '/api/v1/auth',
      accountEmail: services.accountEmail,
    });
  }
  if (services.emailChange) {
    await app.register(emailChangeRoutes, {
      prefix: '/api/v1/auth',
      emailChange: services.emailChange,
    });
  }
  await app.register(mfaRoutes, { prefix: '/api/v1/auth/mfa', mfa: services.mfa });
  await app.register(usersRoutes, {
    prefix: '/api/v1/users',
    users: services.users,
    recentSignInSeconds: config.access.recentSignInSeconds,
    privilegedRecentSignInSeconds: config.access.privilegedRecentSignInSeconds,
  });
  await app.register(mfaAdminRoutes, {
    prefix: '/api/v1/users',
    mfa: services.mfa,
    privilegedRecentSignInSeconds: config.access.privilegedRecentSignInSeconds,
  });
  if (services.accountEmail) {
    await app.register(accountEmailAdminRoutes, {
      prefix: '/api/v1/users',
      accountEmail: services.accountEmail,
      privilegedRecentSignInSeconds: config.access.privilegedRecentSignInSeconds,
    });
  }
  await app.register(auditRoutes, { prefix: '/api/v1/admin', log: services.auditLog });
  await app.register(oidcRoutes, {
    prefix: '/api/v1',
    oidc: services.oidc,
    cookieSecure: config.oidc.cookieSecure,
    loginTtlSeconds: config.oidc.loginTtlSeconds,
    handoffTtlSeconds: config.oidc.handoffTtlSeconds,
    signInConfigured: Object.keys(config.oidc.providers).length > 0,
    recentSignInSeconds: config.access.recentSignInSeconds,
  });
  // Never open by default: without a token the route does not exist (a separate port is
  // started by server.ts when metrics.port is set).
  if (config.metrics.token !== undefined) {
    await app.register(metricsRoute, {
      metrics,
      token: config.metrics.token,
      events: services.events,
    });
  }

  return app;
}
