import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

/*
 * Table types shared by both dialects. Portable on purpose:
 * - times are integer milliseconds since the epoch (bigint in PostgreSQL, parsed back to number);
 * - flags are integers 0/1 (SQLite has no boolean);
 * - ids are random UUIDs as text, never sequential.
 * Columns ending in `_enc` hold an encrypted envelope (src/crypto/field-cipher.ts), never plaintext.
 */

/** Epoch milliseconds. */
export type Millis = number;
/** 0 or 1. */
export type Flag = 0 | 1;

export interface UsersTable {
  id: string;
  /** Normalised: trimmed, NFC, lower-case. Unique. */
  email: string;
  name: string;
  /** PHC string ($argon2id$... or a legacy $2b$ bcrypt hash); null for accounts without a password. */
  password_hash: string | null;
  role: string;
  /** Encrypted phone number, AAD-bound to users/phone/<id>. */
  phone_enc: string | null;
  email_verified: Flag;
  mfa_enabled: Flag;
  disabled: Flag;
  created_at: Millis;
  updated_at: Millis;
  /**
   * Moved on by every end of all the user's sessions that also voids sign-ins in flight
   * (Sessions.endAll): a provider sign-in's hand-off code issued under an earlier one is refused.
   */
  session_generation: Generated<number>;
}

export interface SessionsTable {
  id: string;
  user_id: string;
  created_at: Millis;
  last_used_at: Millis;
  /** Absolute end of the session: no refresh after this, whatever the activity. */
  expires_at: Millis;
  ended_at: Millis | null;
  /**
   * logout | logout_all | password_changed | password_reset | email_changed | mfa_enabled |
   * mfa_reset | identity_unlinked | user_deleted | user_disabled | refresh_reuse | revoked | expired
   */
  end_reason: string | null;
  ip: string | null;
  user_agent: string | null;
  /** How the session was signed in: space-separated RFC 8176 methods (`pwd otp mfa`), or null. */
  amr: string | null;
  /** The linked provider identity that signed the session in (identities.id); null: none. */
  identity_id: string | null;
  /**
   * When the user last proved who they are, for a provider sign-in: the ID token's `auth_time`.
   * Null: `created_at` for a password sign-in, unknown (never recent) for a provider sign-in.
   */
  signed_in_at: Millis | null;
}

export interface RefreshTokensTable {
  id: string;
  session_id: string;
  /** SHA-256 of the token, hex. The token itself is never stored. */
  token_hash: string;
  created_at: Millis;
  /** Idle expiry: the token is refused after this even if the session lives on. */
  expires_at: Millis;
  /** Set when the token is exchanged; a second exchange is a reuse. */
  used_at: Millis | null;
  replaced_by: string | null;
}

export interface SigningKeysTable {
  /** The JWK `kid`. */
  id: string;
  alg: string;
  /** Public JWK as JSON text. */
  public_jwk: string;
  /** Private JWK (JSON), encrypted: AAD-bound to signing_keys/private_key/<id>. */
  private_key_enc: string;
  /**
   * When it starts signing. A key made by a rotation is stored, and published in the JWKS, ahead
   * of this time (tokens.keyPublishAheadSeconds), so verifiers that cache the JWKS know it before
   * they meet its tokens.
   */
  created_at: Millis;
  /** When it stops signing (a newer key takes over; may lie ahead); null while current. */
  retired_at: Millis | null;
  /** After this it no longer verifies and leaves the JWKS. */
  expires_at: Millis | null;
}

/** One security event, a link of the hash chain (src/audit/audit-chain.ts). Append-only. */
export interface AuditEventsTable {
  /** Position in the chain: 1, 2, 3 … with no gaps (a gap is a deleted row). */
  seq: number;
  /** Random public id of the event. */
  id: string;
  time: Millis;
  type: string;
  /** success | failure | denied */
  outcome: string;
  actor_id: string | null;
  target_type: string | null;
  target_id: string | null;
  ip: string | null;
  user_agent: string | null;
  request_id: string | null;
  /** Non-secret facts as canonical JSON (sorted keys). */
  details: string;
  /** `hash` of the previous link (of the checkpoint after pruning; zeros for the first row). */
  prev_hash: string;
  /** SHA-256, hex, of the canonical row and `prev_hash`. */
  hash: string;
}

/** The newest link of the chain: one row, id 'main'. */
export interface AuditChainHeadTable {
  id: string;
  seq: number;
  hash: string;
}

/** The last link of a pruned prefix of the chain; verification starts after the newest one. */
export interface AuditCheckpointsTable {
  seq: number;
  hash: string;
  pruned_at: Millis;
  rows_pruned: number;
}

/** An OpenID Connect account linked to a user (src/oidc/). Unique on (issuer, subject). */
export interface IdentitiesTable {
  id: string;
  user_id: string;
  /** The configured provider name it signed in through (`google` ...). */
  provider: string;
  /** The ID token's `iss`. */
  issuer: string;
  /** The ID token's `sub`: stable per provider account, unlike the email. */
  subject: string;
  /** The email the provider last reported, for display; never used to find the identity. */
  email: string | null;
  created_at: Millis;
  last_login_at: Millis;
}

/** A user's TOTP authenticator (src/auth/mfa-service.ts); at most one per user. */
export interface TotpFactorsTable {
  user_id: string;
  /** Encrypted base32 secret, AAD-bound to totp_factors/secret/<user_id>. */
  secret_enc: string;
  created_at: Millis;
  /** Null while enrolment waits for its first code; MFA is on once set. */
  confirmed_at: Millis | null;
  /** RFC 6238 time step of the last accepted code; only a later step is accepted. */
  last_step: number | null;
}

/** A single-use recovery code. Random, so stored as its SHA-256 (hex), never in clear. */
export interface RecoveryCodesTable {
  id: string;
  user_id: string;
  code_hash: string;
  created_at: Millis;
  used_at: Millis | null;
}

/** A single-use token sent by e-mail. Random, so stored as its SHA-256 (hex), never in clear. */
export interface EmailTokensTable {
  id: string;
  user_id: string;
  purpose: EmailTokenPurpose;
  token_hash: string;
  /**
   * The account's address when the token was issued, where a reset or verification link was sent
   * (a verification token proves that address only; any token stops working once it changes).
   */
  email: string;
  /** email_change only: the requested address, where its link was sent. Null for the others. */
  new_email: string | null;
  created_at: Millis;
  expires_at: Millis;
  used_at: Millis | null;
}

export type EmailTokenPurpose = 'password_reset' | 'email_verification' | 'email_change';

export interface Database {
  users: UsersTable;
  sessions: SessionsTable;
  refresh_tokens: RefreshTokensTable;
  signing_keys: SigningKeysTable;
  audit_events: AuditEventsTable;
  audit_chain_head: AuditChainHeadTable;
  audit_checkpoints: AuditCheckpointsTable;
  identities: IdentitiesTable;
  totp_factors: TotpFactorsTable;
  recovery_codes: RecoveryCodesTable;
  email_tokens: EmailTokensTable;
}

export type UserRow = Selectable<UsersTable>;
export type NewUserRow = Insertable<UsersTable>;
export type UserUpdate = Updateable<UsersTable>;
export type SessionRow = Selectable<SessionsTable>;
export type RefreshTokenRow = Selectable<RefreshTokensTable>;
export type SigningKeyRow = Selectable<SigningKeysTable>;
export type AuditEventRow = Selectable<AuditEventsTable>;
export type AuditCheckpointRow = Selectable<AuditCheckpointsTable>;
export type IdentityRow = Selectable<IdentitiesTable>;
export type NewIdentityRow = Insertable<IdentitiesTable>;
export type TotpFactorRow = Selectable<TotpFactorsTable>;
export type EmailTokenRow = Selectable<EmailTokensTable>;

// Re-exported so repositories need not import kysely's helpers separately.
export type { ColumnType, Generated };
