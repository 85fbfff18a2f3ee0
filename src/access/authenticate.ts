import type {
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  preHandlerAsyncHookHandler,
} from 'fastify';
import fp from 'fastify-plugin';
import { AppError } from '../errors.js';
import type { EventContext, SecurityEvents } from '../security-events.js';
import { invalidToken, type AccessTokens } from '../tokens/access-token.js';
import { authenticationRequired, verifiedBearer } from './bearer.js';
import type { SessionState } from '../tokens/session-state.js';
import type { Permissions } from './permissions.js';
import { durationWords } from './duration-words.js';

/** Who is calling, once `authenticate` has run. */
export interface AuthContext {
  userId: string;
  sessionId: string;
  role: string;
  permissions: ReadonlySet<string>;
  tokenId: string;
  /** How the session was signed in (RFC 8176): includes `mfa` after a second factor. */
  amr: readonly string[];
  /** When the session was signed in (seconds since the epoch); null if the token does not say. */
  authTime: number | null;
}

/**
 * Set in the config of a route whose hooks authenticate its caller (`authenticate`,
 * `authorize(…)`, `requireMfa`): rate limiting counts such a route's requests against the user
 * of a valid token. Everywhere else a token would let its holder pick a budget of their own.
 */
export const kAuthenticates: unique symbol = Symbol('bulwark.authenticates');

declare module 'fastify' {
  interface FastifyContextConfig {
    [kAuthenticates]?: true;
  }
  interface FastifyRequest {
    /** Set by `app.authenticate`; null on routes that do not authenticate. */
    auth: AuthContext | null;
  }
  interface FastifyInstance {
    /** preHandler: requires a valid bearer access token of an active session. */
    authenticate: preHandlerAsyncHookHandler;
    /**
     * preHandler factory: requires `permission`. Authenticates first when `authenticate` has not
     * run yet, so `preHandler: app.authorize('notes:write')` alone is enough.
     */
    authorize(permission: string): preHandlerAsyncHookHandler;
    /**
     * preHandler: requires a session signed in with a second factor (`amr` holds `mfa`);
     * authenticates first when needed. Otherwise 401 insufficient_user_authentication (RFC 9470).
     */
    requireMfa: preHandlerAsyncHookHandler;
    /**
     * preHandler factory: requires a session signed in at most `maxAgeSeconds` ago (the token's
     * `auth_time`; refreshing does not renew it); authenticates first when needed. Otherwise
     * 401 insufficient_user_authentication with `max_age` (RFC 9470): sign in again, then retry.
     */
    requireRecentSignIn(maxAgeSeconds: number): preHandlerAsyncHookHandler;
  }
}

export interface AuthenticateOptions {
  tokens: AccessTokens;
  sessions: SessionState;
  permissions: Permissions;
  events: SecurityEvents;
  /** Clock for requireRecentSignIn; tests move it. */
  now?: () => number;
}

/** The request facts that go into security events. */
export function eventContext(request: FastifyRequest): EventContext {
  const agent = request.headers['user-agent'];
  return {
    ip: request.ip,
    userAgent: typeof agent === 'string' ? agent.slice(0, 512) : null,
    requestId: request.id,
  };
}

/** The caller's auth context; throws if the route forgot `authenticate` (a programming error). */
export function requireAuth(request: FastifyRequest): AuthContext {
  if (!request.auth) throw new Error('route did not run app.authenticate');
  return request.auth;
}

/**
 * Bearer authentication (RFC 6750) and permission guards. Verifying a token costs no database
 * query: the signature is checked against in-memory keys and the session against SessionState.
 */
export const authentication = fp(
  function authentication(app: FastifyInstance, opts: AuthenticateOptions): void {
    app.decorateRequest('auth', null);
    // The hooks that authenticate; a route that runs one is marked (see kAuthenticates).
    const authenticating = new WeakSet<object>();
    app.addHook('onRoute', (route) => {
      const hooks = [route.onRequest, route.preParsing, route.preValidation, route.preHandler];
      if (hooks.flat().some((hook) => typeof hook === 'function' && authenticating.has(hook))) {
        route.config = { ...route.config, [kAuthenticates]: true };
      }
    });

    app.decorate(
      'authenticate',
      async function authenticate(request: FastifyRequest): Promise<void> {
        if (request.headers.authorization === undefined) throw authenticationRequired();
        try {
          const claims = await verifiedBearer(request, opts.tokens);
          const active =
            opts.sessions.knownState(claims.sid) ?? (await opts.sessions.isActive(claims.sid));
          if (!active) throw invalidToken('session ended');
          request.auth = {
            userId: claims.sub,
            sessionId: claims.sid,
            role: claims.role,
            permissions: opts.permissions.of(claims.role),
            tokenId: claims.jti,
            amr: claims.amr,
            authTime: claims.authTime,
          };
        } catch (error) {
          // Refused credentials are recorded: a bad bearer token, or another scheme's
          // credentials (answered without an error code, RFC 6750 §3.1, but still refused).
          if (
            error instanceof AppError &&
            (error.code === 'invalid_token' || error.code === 'authentication_required')
          ) {
            opts.events.emit({
              ...eventContext(request),
              type: 'token.invalid',
              outcome: 'denied',
              details: {
                reason:
                  error.cause instanceof Error ? error.cause.message.slice(0, 100) : 'invalid',
              },
            });
          }
          throw error;
        }
      },
    );

    authenticating.add(app.authenticate);

    const ungranted = new Set<string>();
    app.decorate('authorize', function authorize(permission: string): preHandlerAsyncHookHandler {
      if (opts.permissions.rolesWith(permission).length === 0 && !ungranted.has(permission)) {
        // Most likely a typo, or a role left out of access.roles: say so at start, not as 403s.
        ungranted.add(permission);
        app.log.warn(
          { permission },
          `no role in access.roles grants "${permission}", so routes that need it answer 403 to everyone. Fix: grant it to a role, or check its spelling.`,
        );
      }
      return guard(
        (auth) => auth.permissions.has(permission),
        () => ({
          details: { permission, status: 403 },
          error: new AppError('forbidden', `This needs the ${permission} permission.`),
        }),
      );
    });

    app.decorate(
      'requireMfa',
      guard(
        (auth) => auth.amr.includes('mfa'),
        () => ({
          details: { reason: 'mfa_required', status: 401 },
          error: insufficientUserAuthentication(),
        }),
      ),
    );

    const now = opts.now ?? Date.now;
    app.decorate(
      'requireRecentSignIn',
      function requireRecentSignIn(maxAgeSeconds: number): preHandlerAsyncHookHandler {
        if (!Number.isSafeInteger(maxAgeSeconds) || maxAgeSeconds < 1) {
          throw new RangeError('requireRecentSignIn: maxAgeSeconds must be a positive integer');
        }
        return guard(
          // A token that does not say when its session signed in is never recent.
          (auth) =>
            auth.authTime !== null && Math.floor(now() / 1000) - auth.authTime <= maxAgeSeconds,
          () => ({
            details: { reason: 'sign_in_too_old', maxAgeSeconds, status: 401 },
            error: signInTooOld(maxAgeSeconds),
          }),
        );
      },
    );

    /**
     * A preHandler that lets through the callers `allowed` accepts; any other is an
     * access.denied event and the refusal's error.
     */
    function guard(
      allowed: (auth: AuthContext) => boolean,
      refusal: () => { details: Record<string, string | number>; error: AppError },
    ): preHandlerAsyncHookHandler {
      const handler = async function guardHandler(
        this: FastifyInstance,
        request: FastifyRequest,
        reply: FastifyReply,
      ): Promise<void> {
        // A guard implies authenticating: a route that lists only the guard, or lists it
        // before authenticate, still refuses an anonymous caller with 401, never lets it by.
        if (request.auth === null) await app.authenticate.call(this, request, reply);
        const auth = requireAuth(request);
        if (allowed(auth)) return;
        const { details, error } = refusal();
        opts.events.emit({
          ...eventContext(request),
          type: 'access.denied',
          outcome: 'denied',
          actorId: auth.userId,
          details: { ...details, route: request.routeOptions.url ?? null },
        });
        throw error;
      };
      authenticating.add(handler);
      return handler;
    }
  },
  { name: 'bulwark-authentication' },
);

/** The RFC 9470 step-up challenge: this token is valid, but its sign-in was not strong enough. */
function insufficientUserAuthentication(): AppError {
  const detail =
    'This needs a session signed in with a second factor: turn MFA on, then sign in again with a code.';
  return new AppError('insufficient_user_authentication', detail, {
    headers: {
      'www-authenticate': `Bearer error="insufficient_user_authentication", error_description="${detail}"`,
    },
  });
}

/**
 * The RFC 9470 step-up challenge for a sign-in that is too old: valid token, but this action
 * wants the user to have proven who they are recently (a stolen token, or a session left open
 * for days, must not be enough to delete an account or to change someone else's).
 */
function signInTooOld(maxAgeSeconds: number): AppError {
  const detail = `This needs a session signed in within the last ${durationWords(maxAgeSeconds)}: sign in again, then retry with the new access token.`;
  return new AppError('insufficient_user_authentication', detail, {
    headers: {
      'www-authenticate': `Bearer error="insufficient_user_authentication", error_description="${detail}", max_age=${maxAgeSeconds}`,
    },
  });
}
