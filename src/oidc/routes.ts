import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { eventContext, requireAuth } from '../access/authenticate.js';
import { LoginResponse } from '../auth/schema.js';
import { isAppError } from '../errors.js';
import { clearCookie, cookieNames, readCookie, serializeCookie } from './cookies.js';
import { MFA_HOLD_SECONDS, MFA_RETRY_CODES } from './code-exchange.js';
import type { OidcService } from './oidc-service.js';
import {
  CallbackQuery,
  ExchangeBody,
  IdentityIdParams,
  IdentityList,
  ProviderParams,
  StartQuery,
} from './schema.js';

export interface OidcRoutesOptions {
  oidc: OidcService;
  cookieSecure: boolean;
  loginTtlSeconds: number;
  handoffTtlSeconds: number;
  /**
   * Whether any provider is configured. Without one the sign-in routes still answer (404
   * oidc_unknown_provider, 400 for a code), but the API description leaves them out: a client
   * reading /openapi.json should not be offered a sign-in that cannot happen.
   */
  signInConfigured: boolean;
  /**
   * access.recentSignInSeconds: unlinking an identity removes a way to sign in and ends the
   * sessions it signed in, so an access token alone (stolen, or from a session refreshed for
   * weeks) is not enough, as for deleting the account.
   */
  recentSignInSeconds: number;
}

const security = [{ bearer: [] }];
const noContent = { 204: { type: 'null' } };

/**
 * Under /api/v1: the sign-in flow (/auth/oidc/...) and the caller's linked identities
 * (/users/me/identities).
 */
export function oidcRoutes(base: FastifyInstance, opts: OidcRoutesOptions): void {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();
  const { oidc, cookieSecure: secure } = opts;
  const names = cookieNames(secure);
  const clearLogin = clearCookie(names.login, secure);
  const signIn = { tags: ['oidc'], hide: !opts.signInConfigured };

  app.get(
    '/auth/oidc/:provider',
    {
      config: { rateLimit: 'auth' },
      schema: {
        ...signIn,
        summary:
          'Start signing in with an OpenID Connect provider: 302 to the provider (code flow, PKCE S256, state, nonce).',
        params: ProviderParams,
        querystring: StartQuery,
        response: { 302: { type: 'null', description: 'Redirect to the provider.' } },
      },
    },
    async (request, reply) => {
      const { location, sealedState } = await oidc.start(
        request.params.provider,
        request.query.returnTo,
        eventContext(request),
        request.query.maxAge,
      );
      return reply
        .header(
          'set-cookie',
          serializeCookie(names.login, sealedState, {
            maxAgeSeconds: opts.loginTtlSeconds,
            secure,
          }),
        )
        .redirect(location, 302);
    },
  );

  app.get(
    '/auth/oidc/:provider/callback',
    {
      config: { rateLimit: 'auth' },
      // The login cookie is single-use whatever happens next: cleared before the query is
      // validated, so a malformed callback (a duplicated or unknown parameter) uses it up too.
      onRequest: (_request, reply, done) => {
        void reply.header('set-cookie', clearLogin);
        done();
      },
      schema: {
        ...signIn,
        summary:
          "The provider's redirect back. Validates everything, then 303 to the app URL with a one-time code in the fragment (#oidc_code=...).",
        params: ProviderParams,
        querystring: CallbackQuery,
        response: { 303: { type: 'null', description: 'Redirect to the app URL.' } },
      },
    },
    async (request, reply) => {
      const url = request.raw.url ?? '';
      const at = url.indexOf('?');
      const { location, browserSecret } = await oidc.callback(
        request.params.provider,
        request.query,
        at < 0 ? '' : url.slice(at),
        readCookie(request.headers.cookie, names.login),
        eventContext(request),
      );
      return reply
        .header(
          'set-cookie',
          serializeCookie(names.handoff, browserSecret, {
            maxAgeSeconds: opts.handoffTtlSeconds,
            secure,
          }),
        )
        .redirect(location, 303);
    },
  );

  app.post(
    '/auth/oidc/exchange',
    {
      config: { rateLimit: 'auth' },
      schema: {
        ...signIn,
        summary:
          'Exchange the one-time code (single use, bound to this browser by a cookie) for an access token and a refresh token.',
        body: ExchangeBody,
        response: { 200: LoginResponse },
      },
    },
    async (request, reply) => {
      const browserSecret = readCookie(request.headers.cookie, names.handoff);
      try {
        const signedIn = await oidc.exchange(
          request.body.code,
          browserSecret,
          eventContext(request),
          request.body.mfaCode,
        );
        void reply.header('set-cookie', clearCookie(names.handoff, secure));
        return signedIn;
      } catch (error) {
        // The code is held for a second try with an MFA code: the cookie must live as long.
        // (These refusals come only after the cookie matched the code's binding, so the value
        // set again is the one this service issued, never arbitrary input.)
        // Other refusals leave the cookie to its own expiry rather than clear it: a request
        // refused because a concurrent one (a double submit) holds the code must not take
        // the cookie from it.
        if (isAppError(error) && MFA_RETRY_CODES.has(error.code) && browserSecret !== undefined) {
          void reply.header(
            'set-cookie',
            serializeCookie(names.handoff, browserSecret, {
              maxAgeSeconds: MFA_HOLD_SECONDS,
              secure,
            }),
          );
        }
        throw error;
      }
    },
  );

  app.get(
    '/users/me/identities',
    {
      preHandler: [app.authenticate],
      schema: {
        tags: ['users'],
        summary: "The caller's linked sign-in identities.",
        security,
        response: { 200: IdentityList },
      },
    },
    async (request) => ({ items: await oidc.listIdentities(requireAuth(request)) }),
  );

  app.delete(
    '/users/me/identities/:id',
    {
      preHandler: [app.authenticate, app.requireRecentSignIn(opts.recentSignInSeconds)],
      schema: {
        tags: ['users'],
        summary:
          "Unlink one of the caller's identities, from a session signed in within access.recentSignInSeconds (404 for anyone else's; 409 if it is the last way to sign in).",
        security,
        params: IdentityIdParams,
        response: noContent,
      },
    },
    async (request, reply) => {
      await oidc.unlink(requireAuth(request), request.params.id, eventContext(request));
      return reply.code(204).send();
    },
  );
}
