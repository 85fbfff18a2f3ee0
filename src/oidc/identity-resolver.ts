import { randomUUID } from 'node:crypto';
import type * as client from 'openid-client';
import type { AccountEmailService } from '../auth/account-email-service.js';
import { accountDisabled } from '../auth/auth-service.js';
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
import type { UsersService } from '../users/users-service.js';
import { emitLoginFailed } from './callback-failure.js';
import type { OidcProvider } from './providers.js';

export interface IdentityResolverDeps {
  identities: IdentitiesRepository;
  usersRepo: UsersRepository;
  users: Pick<UsersService, 'createExternal'>;
  events: SecurityEvents;
  /** Role of accounts created by a first sign-in. */
  defaultRole: string;
  /** Tells owners by e-mail when how their account signs in changes; unset without e-mail. */
  notices?: Pick<AccountEmailService, 'notifySecurityChange'> | undefined;
  now: () => number;
}

const NAME_MAX = 100;
// The first NAME_MAX code points (the unit of the API's Name schema): cutting at NAME_MAX UTF-16
// code units could split an emoji's surrogate pair, which normalizeName refuses.
const NAME_PREFIX = new RegExp(`^[\\s\\S]{0,${NAME_MAX}}`, 'u');

/**
 * The account behind a provider sign-in: the identity already linked, a new account, or an
 * existing account linked by an email address that both sides have verified.
 */
export class IdentityResolver {
  constructor(private readonly deps: IdentityResolverDeps) {}

  /**
   * The user behind a verified ID token: the linked one, a new one, or (verified email, linking
   * allowed) an existing one with the same email. A concurrent first sign-in of the same account
   * loses the unique-index race and simply retries once.
   * @throws AppError account_disabled for a disabled account (nothing linked or recorded but the
   *   refusal), oidc_email_required, oidc_link_refused
   */
  async resolve(
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
        // Refused before anything is written: a refused sign-in is no sign-in.
        if (user.disabled === 1) this.refuseDisabled(provider, user, context);
        // Kept for display only, and only an address the first sign-in would have taken: a NUL
        // would fail the update on PostgreSQL (a 500), and an escape sequence or a bidi override
        // would reach every list that shows it. A refused one leaves the last good one in place.
        await this.deps.identities.touch(existing.id, {
          ...(email === null || isValidEmail(email) ? { email } : {}),
          last_login_at: this.deps.now(),
        });
        return { user, identity: existing, created: false };
      }
    }
    const refuse = (
      code: 'oidc_email_required' | 'oidc_link_refused',
      reason: string,
      detail: string,
    ): never => {
      emitLoginFailed(this.deps.events, provider.name, reason, context);
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
        // A link made now would outlive this refusal: enabling the account again would bring a
        // way in that no sign-in ever completed.
        if (owner.disabled === 1) this.refuseDisabled(provider, owner, context);
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
      if (race && !retried) return this.resolve(provider, claims, context, true);
      throw error;
    }
  }

  private refuseDisabled(provider: OidcProvider, user: UserRow, context: EventContext): never {
    emitLoginFailed(this.deps.events, provider.name, 'disabled', context, user.id);
    throw accountDisabled();
  }

  private async link(
    provider: OidcProvider,
    claims: client.IDToken,
    user: UserRow,
    email: string,
    via: 'new_user' | 'verified_email',
    context: EventContext,
  ): Promise<IdentityRow> {
    const now = this.deps.now();
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
    // A new way into an existing account: its owner hears of it (a new account needs no word).
    if (via === 'verified_email') {
      this.deps.notices?.notifySecurityChange(user, {
        kind: 'identity_linked',
        provider: provider.name,
      });
    }
    return identity;
  }
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
