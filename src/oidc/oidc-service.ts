import type { Logger } from 'pino';
import type * as client from 'openid-client';
import type { AuthContext } from '../access/authenticate.js';
import type { AuthService, TokenPair } from '../auth/auth-service.js';
import { timingSafeEqualString } from '../crypto/index.js';
import type { IdentitiesRepository, UsersRepository } from '../db/index.js';
import { AppError } from '../errors.js';
import type { EventContext, SecurityEvents } from '../security-events.js';
import type { User } from '../users/schema.js';
import type { UsersService } from '../users/users-service.js';
import {
  classifyCallbackError,
  emitLoginFailed,
  type CallbackFailure,
} from './callback-failure.js';
import { CodeExchange } from './code-exchange.js';
import type { HandoffCodes } from './handoff-codes.js';
import { atHashMatches, usableSubject } from './id-token-checks.js';
import { IdentityResolver } from './identity-resolver.js';
import { LinkedIdentities, type IdentityView } from './linked-identities.js';
import { openidClient } from './openid-client.js';
import type { LoginStateSealer } from './login-state.js';
import type { OidcProvider, OidcProviders } from './providers.js';
import type { Sessions } from '../tokens/sessions.js';
import type { AccountEmailService } from '../auth/account-email-service.js';

export interface OidcServiceDeps {
  providers: OidcProviders;
  sealer: LoginStateSealer;
  handoff: HandoffCodes;
  identities: IdentitiesRepository;
  usersRepo: UsersRepository;
  users: UsersService;
  auth: AuthService;
  sessions: Sessions;
  /** Tells owners by e-mail when how their account signs in changes; unset without e-mail. */
  notices?: Pick<AccountEmailService, 'notifySecurityChange' | 'noticeIfNewSignIn'> | undefined;
  /** Where a failure to hold a code for MFA is reported (it never fails the request). */
  logger?: Pick<Logger, 'warn'>;
  events: SecurityEvents;
  /** Role of accounts created by a first sign-in. */
  defaultRole: string;
  loginTtlMs: number;
  now?: () => number;
}

/** The callback's query parameters this service reads (the route accepts a few more). */
export interface CallbackQuery {
  state?: string | undefined;
}

/** The claims taken from the UserInfo endpoint when the ID token has no email. */
const USERINFO_CLAIMS = ['email', 'email_verified', 'name', 'given_name', 'family_name'] as const;

/**
 * How far in the future an ID token's `iat` may lie, in seconds: openid-client's own clock
 * tolerance, which it applies to `exp` and `nbf` but not to `iat` in the code flow.
 */
const IAT_TOLERANCE_SECONDS = 30;

/** The claims parameter that asks for `auth_time` in the ID token (OIDC Core 5.5.1). */
const AUTH_TIME_CLAIM_REQUEST = JSON.stringify({ id_token: { auth_time: { essential: true } } });

/**
 * The ID token's `auth_time` as epoch ms, never after `now` (a provider clock ahead proves no
 * later sign-in); undefined when absent or not a positive number of seconds.
 */
function providerAuthTime(value: unknown, now: number): number | undefined {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) return undefined;
  const ms = Math.floor(value * 1000);
  return Number.isSafeInteger(ms) ? Math.min(ms, now) : undefined;
}

/**
 * Sign-in with OpenID Connect providers: the authorization code flow with PKCE (S256), `state`
 * and `nonce` through openid-client, account linking, and the hand-off of the session to the
 * front end through a one-time code. Every refusal is a catalogued problem and a security event.
 * @see https://openid.net/specs/openid-connect-core-1_0.html
 * @see https://www.rfc-editor.org/rfc/rfc9700 (OAuth 2.0 Security Best Current Practice)
 */
export class OidcService {
  private readonly now: () => number;
  private readonly resolver: IdentityResolver;
  private readonly codes: CodeExchange;
  private readonly linked: LinkedIdentities;

  constructor(private readonly deps: OidcServiceDeps) {
    this.now = deps.now ?? Date.now;
    this.resolver = new IdentityResolver({ ...deps, now: this.now });
    this.codes = new CodeExchange(deps);
    this.linked = new LinkedIdentities(deps);
  }

  /** The configured provider, or 404 oidc_unknown_provider. */
  provider(name: string): OidcProvider {
    const provider = this.deps.providers.get(name);
    if (!provider) {
      throw new AppError('oidc_unknown_provider', 'No sign-in provider with this name.');
    }
    return provider;
  }

  /**
   * Starts a sign-in: the provider's authorization URL, and the sealed state for the login
   * cookie. `returnTo` must be exactly one of the provider's appUrls (no open redirect).
   * `maxAge` makes it a step-up sign-in (RFC 9470): the provider must have authenticated the
   * user within that many seconds and say when (OIDC Core 3.1.2.1 `max_age`), or the callback
   * refuses it.
   */
  async start(
    name: string,
    returnTo: string | undefined,
    context: EventContext,
    maxAge?: number,
  ): Promise<{ location: string; sealedState: string }> {
    const provider = this.provider(name);
    const target = returnTo ?? provider.appUrls[0]!;
    if (!provider.appUrls.includes(target)) {
      this.failed(provider.name, 'return_to_not_allowed', context);
      throw new AppError(
        'oidc_redirect_not_allowed',
        'returnTo is not one of the configured app URLs.',
        { errors: [{ path: '/querystring/returnTo', message: 'must be a configured app URL' }] },
      );
    }
    const config = await this.configuration(provider, context);
    const lib = await openidClient();
    const codeVerifier = lib.randomPKCECodeVerifier();
    const state = lib.randomState();
    const nonce = lib.randomNonce();
    const url = lib.buildAuthorizationUrl(config, {
      redirect_uri: provider.redirectUri,
      scope: provider.scopes.join(' '),
      code_challenge: await lib.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state,
      nonce,
      // max_age makes auth_time REQUIRED in the ID token; otherwise it is asked for where the
      // provider takes the claims parameter (OIDC Core 5.5), as Google documents for it.
      ...(maxAge === undefined ? {} : { max_age: String(maxAge) }),
      ...(config.serverMetadata().claims_parameter_supported === true
        ? { claims: AUTH_TIME_CLAIM_REQUEST }
        : {}),
    });
    const sealedState = this.deps.sealer.seal({
      provider: provider.name,
      state,
      nonce,
      codeVerifier,
      returnTo: target,
      expiresAt: this.now() + this.deps.loginTtlMs,
      ...(maxAge === undefined ? {} : { maxAge }),
    });
    this.deps.events.emit({
      ...context,
      type: 'oidc.login_started',
      outcome: 'success',
      details: { provider: provider.name },
    });
    return { location: url.href, sealedState };
  }

  /**
   * Completes a sign-in at the callback. openid-client checks the RFC 9207 `iss` parameter, the
   * code exchange with the PKCE verifier, and the ID token (JWKS signature, iss, aud, azp, exp,
   * iat, nonce); `state` is compared here first, in constant time, and `at_hash` after.
   * @returns where to send the browser (the app URL with a one-time code) and the browser secret
   *   the code is bound to
   */
  async callback(
    name: string,
    query: CallbackQuery,
    rawQuery: string,
    sealedState: string | undefined,
    context: EventContext,
  ): Promise<{ location: string; browserSecret: string }> {
    const provider = this.provider(name);
    const fail = (failure: CallbackFailure, cause?: unknown): never => {
      this.failed(provider.name, failure.reason, context);
      throw new AppError(failure.code, failure.detail, { cause });
    };
    const login = this.deps.sealer.open(sealedState, provider.name);
    if (!login) {
      return fail({
        code: 'oidc_login_expired',
        reason: sealedState === undefined ? 'no_login_cookie' : 'login_cookie_invalid',
        detail: 'This sign-in was not started in this browser or has expired. Start again.',
      });
    }
    if (login.expiresAt <= this.now()) {
      return fail({
        code: 'oidc_login_expired',
        reason: 'login_expired',
        detail: 'This sign-in has expired. Start again.',
      });
    }
    if (query.state === undefined || !timingSafeEqualString(query.state, login.state)) {
      return fail({
        code: 'oidc_state_mismatch',
        reason: 'state_mismatch',
        detail: 'The sign-in state does not match this browser. Start again.',
      });
    }

    const config = await this.configuration(provider, context);
    const currentUrl = new URL(provider.redirectUri);
    currentUrl.search = rawQuery;
    const lib = await openidClient();
    let tokens: Awaited<ReturnType<typeof lib.authorizationCodeGrant>>;
    try {
      tokens = await lib.authorizationCodeGrant(config, currentUrl, {
        pkceCodeVerifier: login.codeVerifier,
        expectedState: login.state,
        expectedNonce: login.nonce,
        idTokenExpected: true,
      });
    } catch (error) {
      return fail(classifyCallbackError(error), error);
    }
    this.deps.providers.rememberJwks(provider, config);
    const claims = tokens.claims();
    if (!claims || tokens.id_token === undefined) {
      return fail({
        code: 'oidc_id_token_invalid',
        reason: 'no_id_token',
        detail: 'The identity provider returned no ID token.',
      });
    }
    // A token minted in the future is refused like an expired one (OIDC Core 3.1.3.7 lets the
    // client reject an iat too far from now): a provider clock that far off, or a forgery.
    if (claims.iat > Math.floor(this.now() / 1000) + IAT_TOLERANCE_SECONDS) {
      return fail({
        code: 'oidc_id_token_expired',
        reason: 'id_token_iat',
        detail: 'The ID token is expired or not yet valid.',
      });
    }
    if (!usableSubject(claims.sub)) {
      return fail({
        code: 'oidc_id_token_invalid',
        reason: 'subject_invalid',
        detail: 'The ID token does not name the account in a form this service accepts.',
      });
    }
    if (
      claims.at_hash !== undefined &&
      !atHashMatches(tokens.id_token, tokens.access_token, claims.at_hash)
    ) {
      return fail({
        code: 'oidc_id_token_invalid',
        reason: 'at_hash_mismatch',
        detail: 'The ID token does not belong to the access token it came with.',
      });
    }

    // When the provider last authenticated the user: a provider session in the browser answers
    // a sign-in without asking for anything, so that, not this callback, is the sign-in's time.
    const authTime = providerAuthTime(claims.auth_time, this.now());
    if (
      login.maxAge !== undefined &&
      (authTime === undefined ||
        this.now() - authTime > (login.maxAge + IAT_TOLERANCE_SECONDS) * 1000)
    ) {
      return fail({
        code: 'oidc_sign_in_not_recent',
        reason: authTime === undefined ? 'no_auth_time' : 'auth_time_too_old',
        detail: `The identity provider did not confirm a sign-in within the last ${login.maxAge} seconds. Sign in at the provider again.`,
      });
    }

    const profile = await this.withUserInfo(config, tokens.access_token, claims, fail);
    // A disabled account is refused by the resolver, before it links or touches anything.
    const { user, identity, created } = await this.resolver.resolve(provider, profile, context);
    const { code, browserSecret } = await this.deps.handoff.issue({
      userId: user.id,
      provider: provider.name,
      identityId: identity.id,
      // As read before the code exists: an end of every session since refuses it.
      generation: user.session_generation,
      ...(authTime === undefined ? {} : { authTime }),
    });
    this.deps.events.emit({
      ...context,
      type: 'oidc.login_succeeded',
      outcome: 'success',
      actorId: user.id,
      target: { type: 'identity', id: identity.id },
      details: { provider: provider.name, created },
    });
    // In the fragment: never sent to a server, so it stays out of access logs and Referer headers.
    return {
      location: `${login.returnTo}#${new URLSearchParams({ oidc_code: code }).toString()}`,
      browserSecret,
    };
  }

  /**
   * Redeems a one-time code from the same browser for the normal token pair (see
   * CodeExchange.exchange).
   */
  exchange(
    code: string,
    browserSecret: string | undefined,
    context: EventContext,
    mfaCode?: string,
  ): Promise<TokenPair & { user: User }> {
    return this.codes.exchange(code, browserSecret, context, mfaCode);
  }

  listIdentities(auth: AuthContext): Promise<IdentityView[]> {
    return this.linked.list(auth);
  }

  /**
   * Unlinks one of the caller's identities; anyone else's is 404. Refused when it is the last way
   * to sign in (no password and no other identity).
   */
  unlink(auth: AuthContext, id: string, context: EventContext): Promise<void> {
    return this.linked.unlink(auth, id, context);
  }

  /**
   * The ID token's claims, completed from the UserInfo endpoint when they leave out the email: in
   * the code flow a provider may return the scope claims only there (OIDC Core 5.4). The answer
   * must be about the ID token's subject (openid-client compares `sub`); only the email and name
   * claims are taken from it, and only where the ID token has none.
   */
  private async withUserInfo(
    config: client.Configuration,
    accessToken: string,
    claims: client.IDToken,
    fail: (failure: CallbackFailure, cause?: unknown) => never,
  ): Promise<client.IDToken> {
    if (typeof claims.email === 'string' || !config.serverMetadata().userinfo_endpoint) {
      return claims;
    }
    const lib = await openidClient();
    let info: client.UserInfoResponse;
    try {
      info = await lib.fetchUserInfo(config, accessToken, claims.sub);
    } catch (error) {
      const mismatch =
        (error as { code?: unknown }).code === 'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED';
      return fail(
        mismatch
          ? {
              code: 'oidc_id_token_invalid',
              reason: 'userinfo_subject_mismatch',
              detail: 'The provider described another account than the ID token.',
            }
          : {
              code: 'oidc_provider_unavailable',
              reason: 'userinfo_failed',
              detail: 'The identity provider did not share the account details. Try again later.',
            },
        error,
      );
    }
    const added = USERINFO_CLAIMS.filter(
      (key) => claims[key] === undefined && info[key] !== undefined,
    ).map((key) => [key, info[key]]);
    return { ...(Object.fromEntries(added) as Partial<client.IDToken>), ...claims };
  }

  private async configuration(
    provider: OidcProvider,
    context: EventContext,
  ): Promise<client.Configuration> {
    try {
      return await this.deps.providers.configuration(provider);
    } catch (error) {
      this.failed(provider.name, 'discovery_failed', context);
      throw new AppError(
        'oidc_provider_unavailable',
        'The identity provider could not be reached. Try again later.',
        { cause: error },
      );
    }
  }

  private failed(provider: string, reason: string, context: EventContext, userId?: string): void {
    emitLoginFailed(this.deps.events, provider, reason, context, userId);
  }
}
