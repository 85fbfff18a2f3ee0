import { randomBytes, randomUUID } from 'node:crypto';
import type { RefreshTokenRow, SessionRow, SigningKeyRow, UserRow } from '../../src/db/index.js';

/*
 * Row factories for the repository tests: complete, valid rows (what a read returns) with unique ids and emails, so tests in a
 * file can share one database without stepping on each other. Times sit well past 2^31 ms to
 * catch any 32-bit column.
 */

export const T0 = Date.UTC(2030, 0, 1);
const HOUR = 3_600_000;

export function userRow(overrides: Partial<UserRow> = {}): UserRow {
  const id = randomUUID();
  return {
    id,
    email: `${id}@example.test`,
    name: 'Ada Lovelace',
    password_hash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo',
    role: 'user',
    phone_enc: null,
    email_verified: 0,
    mfa_enabled: 0,
    disabled: 0,
    created_at: T0,
    updated_at: T0,
    session_generation: 0,
    ...overrides,
  };
}

/** A users row as the migrations before 0008 made the table: without session_generation. */
export function userRowBefore0008(
  overrides: Partial<UserRow> = {},
): Omit<UserRow, 'session_generation'> {
  const { session_generation: _added, ...row } = userRow(overrides);
  return row;
}

export function sessionRow(userId: string, overrides: Partial<SessionRow> = {}): SessionRow {
  return {
    id: randomUUID(),
    user_id: userId,
    created_at: T0,
    last_used_at: T0,
    expires_at: T0 + 24 * HOUR,
    ended_at: null,
    end_reason: null,
    ip: '203.0.113.7',
    user_agent: 'vitest',
    amr: 'pwd',
    identity_id: null,
    signed_in_at: null,
    ...overrides,
  };
}

export function refreshTokenRow(
  sessionId: string,
  overrides: Partial<RefreshTokenRow> = {},
): RefreshTokenRow {
  return {
    id: randomUUID(),
    session_id: sessionId,
    token_hash: randomBytes(32).toString('hex'),
    created_at: T0,
    expires_at: T0 + HOUR,
    used_at: null,
    replaced_by: null,
    ...overrides,
  };
}

export function signingKeyRow(overrides: Partial<SigningKeyRow> = {}): SigningKeyRow {
  const id = randomUUID();
  return {
    id,
    alg: 'EdDSA',
    public_jwk: JSON.stringify({ kty: 'OKP', crv: 'Ed25519', x: 'AAAA', kid: id }),
    private_key_enc: 'v1.enc.AAAA',
    created_at: T0,
    retired_at: null,
    expires_at: null,
    ...overrides,
  };
}
