import { createHash, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import * as client from 'openid-client';
import type { AuthContext } from '../access/authenticate.js';
import type { AuthService, TokenPair } from '../auth/auth-service.js';
import { timingSafeEqualString } from '../crypto/index.js';
import {
  isUniqueViolation,
  type IdentitiesRepository,
  type IdentityRow,
  type UserRow,
  type UsersRepository,
} from '../db/index.js';
import { AppError, isAppError } from '../errors.js';
import type { EventContext, SecurityEvents } from '../security-events.js';
import { canonicalEmail, normalizeEmail, normalizeName } from '../users/normalize.js';
import type { User } from '../users/schema.js';
import type { UsersService } from '../users/users-service.js';
import { classifyCallbackError, type CallbackFailure } from './callback-failure.js';
import type { HandoffCodes } from './handoff-codes.js';
import type { LoginStateSealer } from './login-state.js';
import type { OidcProvider, OidcProviders } from './providers.js';

export interface OidcServiceDeps {
  providers: OidcProviders;
  sealer: LoginStateSealer;
  handoff: HandoffCodes;
  identities: IdentitiesRepository;
  usersRepo: UsersRepository;
  users: UsersService;
  auth: AuthService;
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

/** An identity as the API shows it. */
export interface IdentityView {
  id: string;
  provider: string;
  issuer: string;
  email: string | null;
  createdAt: string;
  lastLoginAt: string;
}

/** The claims taken from the UserInfo endpoint when the ID token has no email. */
const USERINFO_CLAIMS = ['email', 'email_verified', 'name', 'given_name', 'family_name'] as const;

/** The hash of an access token for `at_hash`, by the ID token's JWS algorithm (OIDC Core 3.1.3.6). */
const AT_HASH_DIGEST = new Map<string, string>([
  ['RS256', 'sha256'],
  ['PS256', 'sha256'],
  ['ES256', 'sha256'],
  ['RS384', 'sha384'],
  ['PS384', 'sha384'],
  ['ES384', 'sha384'],
  ['RS512', 'sha512'],
  ['PS512', 'sha512'],
  ['ES512', 'sha512'],
  // Ed25519 hashes with SHA-512 internally; the OpenID Foundation's EdDSA guidance uses it here too.
  ['EdDSA', 'sha512'],
  ['Ed25519', 'sha512'],
]);

/**
 * How far in the future an ID token's `iat` may lie, in seconds: openid-client's own clock
 * tolerance, which it applies to `exp` and `nbf` but not to `iat` in the code flow.
 */
const IAT_TOLERANCE_SECONDS = 30;

/** C0 and C1 control characters and DEL: never part of an account identifier. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * How long a one-time code stays redeemable, by the same browser, after an exchange answered
 * mfa_required or invalid_otp: time to open the authenticator app and type a code.
 */
export const MFA_HOLD_SECONDS = 5 * 60;
const MFA_HOLD_MS = MFA_HOLD_SECONDS * 1000;

/** Refusals of an exchange after which its code is held for another try with an MFA code. */
export const MFA_RETRY_CODES: ReadonlySet<string> = new Set([
  'mfa_required',
  'invalid_otp',
  'rate_limited',
]);

const NAME_MAX = 100;
// The first NAME_MAX code points (the unit of the API's Name schema): cutting at NAME_MAX UTF-16
// code units could split an emoji's surrogate pair, which normalizeName refuses.
const NAME_PREFIX = new RegExp(`^[\\s\\S]{0,${NAME_MAX}}`, 'u');

/**
 * Sign-in with OpenID Connect providers: the authorization code flow with PKCE (S256), `state`
 * and `nonce` through openid-client, account linking, and the hand-off of the session to the
 * front end through a one-time code. Every refusal is a catalogued problem and a security event.
 * @see https://openid.net/specs/openid-connect-core-1_0.html
 * @see https://www.rfc-editor.org/rfc/rfc9700 (OAuth 2.0 Security Best Current Practice)
 */
export class OidcService {
  private readonly now: () => number;

  constructor(private readonly deps: OidcServiceDeps) {
    this.now = deps.now ?? Date.now;
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
   */
  async start(
    name: string,
    returnTo: string | undefined,
    context: EventContext,
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
    const codeVerifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: provider.redirectUri,
      scope: provider.scopes.join(' '),
      code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    const sealedState = this.deps.sealer.seal({
      provider: provider.name,
      state,
      nonce,
      codeVerifier,
      returnTo: target,
      expiresAt: this.now() + this.deps.loginTtlMs,
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
    let tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>;
    try {
      tokens = await client.authorizationCodeGrant(config, currentUrl, {
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

    const profile = await this.withUserInfo(config, tokens.access_token, claims, fail);
    const { user, identity, created } = await this.resolveUser(provider, profile, context);
    if (user.disabled === 1) {
      this.failed(provider.name, 'disabled', context, user.id);
      throw new AppError(
        'account_disabled',
        'This account has been disabled. Contact an administrator.',
      );
    }
    const { code, browserSecret } = await this.deps.handoff.issue({
      userId: user.id,
      provider: provider.name,
      identityId: identity.id,
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
   * Redeems a one-time code from the same browser for the normal token pair. For a user with
   * MFA on it also takes `mfaCode`: without a valid one the answer is mfa_required or
   * invalid_otp, and the code stays redeemable by the same browser for MFA_HOLD_MS.
   */
  async exchange(
    code: string,
    browserSecret: string | undefined,
    context: EventContext,
    mfaCode?: string,
  ): Promise<TokenPair & { user: User }> {
    const result = await this.deps.handoff.redeem(code, browserSecret);
    if (!result.ok) {
      this.deps.events.emit({
        ...context,
        type: 'oidc.code_rejected',
        outcome: 'denied',
        details: { reason: result.reason },
      });
      throw codeInvalid();
    }
    const { userId, provider, identityId } = result.handoff;
    // Unlinked since the sign-in (perhaps by an owner who saw an unexpected one): the code
    // stood for that provider account, which no longer signs in here.
    const identity = await this.deps.identities.findById(identityId);
    if (identity?.user_id !== userId) {
      this.deps.events.emit({
        ...context,
        type: 'oidc.code_rejected',
        outcome: 'denied',
        target: { type: 'user', id: userId },
        details: { reason: 'identity_gone' },
      });
      throw codeInvalid();
    }
    const user = await this.deps.usersRepo.findById(userId);
    if (!user || user.disabled === 1) {
      this.deps.events.emit({
        ...context,
        type: 'oidc.code_rejected',
        outcome: 'denied',
        target: { type: 'user', id: userId },
        details: { reason: user ? 'disabled' : 'user_gone' },
      });
      if (!user) throw new AppError('oidc_code_invalid', 'The account no longer exists.');
      throw new AppError(
        'account_disabled',
        'This account has been disabled. Contact an administrator.',
      );
    }
    // A failure to put the code back leaves the sign-in to start again; never a 500.
    const hold = () =>
      result.holdFor(MFA_HOLD_MS).catch((error: unknown) => {
        this.deps.logger?.warn({ err: error }, 'holding a sign-in code for MFA failed');
      });
    // The provider's own methods are not known here; the account's second factor is.
    const amr = user.mfa_enabled === 1 ? ['otp', 'mfa'] : [];
    if (user.mfa_enabled === 1) {
      try {
        // The provider vouches for the first factor only: the account's own second factor is
        // asked for too, or MFA would be one linked provider account away from bypassed.
        await this.deps.auth.requireSecondFactor(user, mfaCode, context);
      } catch (error) {
        if (isAppError(error) && MFA_RETRY_CODES.has(error.code)) await hold();
        throw error;
      }
    }
    let started: Awaited<ReturnType<AuthService['startSession']>>;
    try {
      // Disabled or deleted since the read above: startSession reads the user again.
      started = await this.deps.auth.startSession(
        user,
        context,
        () => new AppError('oidc_code_invalid', 'The account no longer exists.'),
        amr,
      );
    } catch (error) {
      // MFA turned on or reset since the read above (startSession ended the session): the
      // code is held for a try with the account's factor as it is now.
      if (isAppError(error) && MFA_RETRY_CODES.has(error.code)) {
        await hold();
      } else if (isAppError(error)) {
        this.deps.events.emit({
          ...context,
          type: 'oidc.code_rejected',
          outcome: 'denied',
          target: { type: 'user', id: userId },
          details: { reason: error.code === 'account_disabled' ? 'disabled' : 'user_gone' },
        });
      }
      throw error;
    }
    this.deps.events.emit({
      ...context,
      type: 'oidc.code_exchanged',
      outcome: 'success',
      actorId: user.id,
      target: { type: 'session', id: started.sessionId },
      details: { provider, identityId },
    });
    return { ...started.pair, user: this.deps.users.view(started.user) };
  }

  async listIdentities(auth: AuthContext): Promise<IdentityView[]> {
    return (await this.deps.identities.listByUser(auth.userId)).map(view);
  }

  /**
   * Unlinks one of the caller's identities; anyone else's is 404. Refused when it is the last way
   * to sign in (no password and no other identity).
   */
  async unlink(auth: AuthContext, id: string, context: EventContext): Promise<void> {
    const identity = await this.deps.identities.findById(id);
    if (!identity || identity.user_id !== auth.userId) {
      if (identity) {
        this.deps.events.emit({
          ...context,
          type: 'access.denied',
          outcome: 'denied',
          actorId: auth.userId,
          target: { type: 'identity', id },
          details: { status: 404, reason: 'not_owner' },
        });
      }
      throw new AppError('not_found', 'No identity with this id.');
    }
    const outcome = await this.deps.identities.deleteUnlessLast(id, auth.userId);
    if (outcome === 'last') {
      throw new AppError(
        'last_sign_in_method',
        'This is the only way to sign in to this account; link another provider first.',
      );
    }
    if (outcome === 'not_found') throw new AppError('not_found', 'No identity with this id.');
    this.deps.events.emit({
      ...context,
      type: 'oidc.identity_unlinked',
      outcome: 'success',
      actorId: auth.userId,
      target: { type: 'identity', id },
      details: { provider: identity.provider },
    });
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
    let info: client.UserInfoResponse;
    try {
      info = await client.fetchUserInfo(config, accessToken, claims.sub);
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

  /**
   * The user behind a verified ID token: the linked one, a new one, or (verified email, linking
   * allowed) an existing one with the same email. A concurrent first sign-in of the same account
   * loses the unique-index race and simply retries once.
   */
  private async resolveUser(
    provider: OidcProvider,
    claims: client.IDToken,
    context: EventContext,
    retried = false,
  ): Promise<{ user: UserRow; identity: IdentityRow; created: boolean }> {
    const email = typeof claims.email === 'string' ? claims.email.slice(0, 320) : null;
    const existing = await this.deps.identities.findBySubject(claims.iss, claims.sub);
    if (existing) {
      const user = await this.deps.usersRepo.findById(existing.user_id);
      if (user) {
        // Kept for display only, and only an address the first sign-in would have taken: a NUL
        // would fail the update on PostgreSQL (a 500), and an escape sequence or a bidi override
        // would reach every list that shows it. A refused one leaves the last good one in place.
        await this.deps.identities.touch(existing.id, {
          ...(email === null || isValidEmail(email) ? { email } : {}),
          last_login_at: this.now(),
        });
        return { user, identity: existing, created: false };
      }
    }
    const refuse = (
      code: 'oidc_email_required' | 'oidc_link_refused',
      reason: string,
      detail: string,
    ): never => {
      this.failed(provider.name, reason, context);
      throw new AppError(code, detail);
    };
    if (email === null) {
      return refuse(
        'oidc_email_required',
        'no_email',
        'The provider did not share an email address.',
      );
    }
    let normalized: string;
    try {
      normalized = normalizeEmail(email);
    } catch {
      return refuse(
        'oidc_email_required',
        'invalid_email',
        'The provider shared an invalid email address.',
      );
    }
    const verified = claims.email_verified === true || claims.email_verified === 'true';
    try {
      const owner = await this.deps.usersRepo.findByEmail(canonicalEmail(normalized));
      if (owner) {
        // Both sides must have proven the address. The provider's `email_verified` proves that
        // this sign-in owns it; the account's own flag says whether whoever created the account
        // did. Bulwark's sign-ups do not verify addresses, so anyone can register a victim's
        // email with a password of their choosing: linking the victim's verified identity into
        // that account would hand the squatter the victim's account (pre-account hijacking).
        const reason = !verified
          ? 'email_unverified'
          : !provider.allowLinkingVerifiedEmail
            ? 'linking_disabled'
            : owner.email_verified !== 1
              ? 'account_email_unverified'
              : undefined;
        if (reason !== undefined) {
          return refuse(
            'oidc_link_refused',
            reason,
            'An account with this email already exists. Sign in with it instead.',
          );
        }
        const identity = await this.link(provider, claims, owner, email, 'verified_email', context);
        return { user: owner, identity, created: false };
      }
      // The account's own flag is what a later link into it relies on (above), so only a
      // provider trusted to verify addresses may set it: one that is not would otherwise create a
      // "verified" account for any address, into which the owner's sign-in with a trusted
      // provider is then linked (pre-account hijacking through the untrusted provider).
      const user = await this.deps.users.createExternal(
        {
          email: normalized,
          name: displayName(claims, normalized),
          role: this.deps.defaultRole,
          emailVerified: verified && provider.allowLinkingVerifiedEmail,
          via: `oidc:${provider.name}`,
        },
        context,
      );
      const identity = await this.link(provider, claims, user, email, 'new_user', context);
      return { user, identity, created: true };
    } catch (error) {
      const race = isUniqueViolation(error) || (isAppError(error) && error.code === 'email_taken');
      if (race && !retried) return this.resolveUser(provider, claims, context, true);
      throw error;
    }
  }

  private async link(
    provider: OidcProvider,
    claims: client.IDToken,
    user: UserRow,
    email: string,
    via: 'new_user' | 'verified_email',
    context: EventContext,
  ): Promise<IdentityRow> {
    const now = this.now();
    const identity = await this.deps.identities.insert({
      id: randomUUID(),
      user_id: user.id,
      provider: provider.name,
      issuer: claims.iss,
      subject: claims.sub,
      email,
      created_at: now,
      last_login_at: now,
    });
    this.deps.events.emit({
      ...context,
      type: 'oidc.identity_linked',
      outcome: 'success',
      actorId: user.id,
      target: { type: 'identity', id: identity.id },
      details: { provider: provider.name, via },
    });
    return identity;
  }

  private failed(provider: string, reason: string, context: EventContext, userId?: string): void {
    this.deps.events.emit({
      ...context,
      type: 'oidc.login_failed',
      outcome: 'failure',
      target: userId ? { type: 'user', id: userId } : null,
      details: { provider, reason },
    });
  }
}

function view(row: IdentityRow): IdentityView {
  return {
    id: row.id,
    provider: row.provider,
    issuer: row.issuer,
    email: row.email,
    createdAt: new Date(row.created_at).toISOString(),
    lastLoginAt: new Date(row.last_login_at).toISOString(),
  };
}

/** The provider's display name, or the email's local part when it has none usable. */
function displayName(claims: client.IDToken, email: string): string {
  const candidates = [
    claims.name,
    [claims.given_name, claims.family_name].filter((p) => typeof p === 'string').join(' '),
    email.split('@')[0],
  ];
  for (const candidate of candidates) {
    if (typeof candidate !== 'string') continue;
    try {
      return normalizeName(NAME_PREFIX.exec(candidate)![0]);
    } catch {
      // refused (control or invisible characters, invalid Unicode, empty): try the next
    }
  }
  return 'User';
}

function isValidEmail(email: string): boolean {
  try {
    normalizeEmail(email);
    return true;
  } catch {
    return false;
  }
}

/** The one answer to a code that cannot be redeemed, whatever the reason (told apart in events). */
function codeInvalid(): AppError {
  return new AppError(
    'oidc_code_invalid',
    'The sign-in code is unknown, expired, already used or was issued to another browser. Sign in again.',
  );
}

/**
 * True for a `sub` that can be stored and matched: at most 255 bytes (OIDC Core 1.0 §2 allows no
 * more than 255 ASCII characters) and no control characters. A signed ID token from the
 * configured provider could still carry another: a NUL, say, which PostgreSQL's text type
 * refuses, so the sign-in would end in a 500 instead of a refusal.
 */
function usableSubject(sub: unknown): sub is string {
  return (
    typeof sub === 'string' &&
    sub.length > 0 &&
    Buffer.byteLength(sub, 'utf8') <= 255 &&
    !CONTROL_CHARACTER.test(sub)
  );
}

/** True when `at_hash` is the left half of the access token's hash (OIDC Core 3.1.3.8). */
function atHashMatches(idToken: string, accessToken: string, atHash: unknown): boolean {
  if (typeof atHash !== 'string') return false;
  let alg: unknown;
  try {
    // Already verified by openid-client; only the algorithm is read here.
    alg = (
      JSON.parse(Buffer.from(idToken.split('.')[0]!, 'base64url').toString('utf8')) as {
        alg?: unknown;
      }
    ).alg;
  } catch {
    return false;
  }
  const digest = typeof alg === 'string' ? AT_HASH_DIGEST.get(alg) : undefined;
  if (digest === undefined) return false;
  const hash = createHash(digest).update(accessToken, 'ascii').digest();
  return timingSafeEqualString(hash.subarray(0, hash.length / 2).toString('base64url'), atHash);
}
