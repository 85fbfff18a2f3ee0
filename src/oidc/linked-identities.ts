import type { AuthContext } from '../access/authenticate.js';
import type { AccountEmailService } from '../auth/account-email-service.js';
import type { IdentitiesRepository, IdentityRow, UsersRepository } from '../db/index.js';
import { AppError } from '../errors.js';
import type { EventContext, SecurityEvents } from '../security-events.js';
import type { Sessions } from '../tokens/sessions.js';

export interface LinkedIdentitiesDeps {
  identities: IdentitiesRepository;
  usersRepo: Pick<UsersRepository, 'findById'>;
  sessions: Pick<Sessions, 'endSignedInWith'>;
  events: SecurityEvents;
  /** Tells owners by e-mail when how their account signs in changes; unset without e-mail. */
  notices?: Pick<AccountEmailService, 'notifySecurityChange'> | undefined;
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

/** The caller's own linked provider identities: listing them, and unlinking one. */
export class LinkedIdentities {
  constructor(private readonly deps: LinkedIdentitiesDeps) {}

  async list(auth: AuthContext): Promise<IdentityView[]> {
    return (await this.deps.identities.listByUser(auth.userId)).map(view);
  }

  /**
   * Unlinks one of the caller's identities; anyone else's is 404. Refused when it is the last way
   * to sign in (no password and no other identity). The other sessions that identity signed in
   * end with it: an owner who unlinks a provider account after an unexpected sign-in through it
   * signs that sign-in out too. The caller's own session stays, as on a password change.
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
    // After the delete: a sign-in through the identity that starts its session from now on
    // finds the identity gone and ends that session itself (CodeExchange).
    await this.deps.sessions.endSignedInWith(
      auth.userId,
      id,
      { ...context, actorId: auth.userId },
      auth.sessionId,
    );
    const { notices } = this.deps;
    if (notices) {
      const owner = await this.deps.usersRepo.findById(auth.userId);
      if (owner)
        notices.notifySecurityChange(owner, {
          kind: 'identity_unlinked',
          provider: identity.provider,
        });
    }
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
