import { describe, expect, it } from 'vitest';
import {
  canonicalJson,
  canonicalLink,
  GENESIS_HASH,
  linkHash,
  type AuditLinkFields,
} from '../../src/audit/audit-chain.js';

const ROW: AuditLinkFields = {
  seq: 1,
  id: '0b6f7a8e-3d0c-4d8e-9c55-2f0f3f0c9a11',
  time: 1_700_000_000_000,
  type: 'login.failed',
  outcome: 'failure',
  actor_id: null,
  target_type: 'user',
  target_id: '7b0e3e53-8f5c-4d2a-9a55-0c9f3c0b1a01',
  ip: '203.0.113.9',
  user_agent: 'curl/8.5.0',
  request_id: 'req-1',
  details: '{"reason":"wrong_password"}',
  prev_hash: GENESIS_HASH,
};

describe('the audit chain hash', () => {
  it('matches a known answer (computed with sha256sum over the canonical text)', () => {
    expect(canonicalLink(ROW)).toBe(
      '["bulwark-audit-v1",1,"0b6f7a8e-3d0c-4d8e-9c55-2f0f3f0c9a11",1700000000000,"login.failed","failure",null,"user","7b0e3e53-8f5c-4d2a-9a55-0c9f3c0b1a01","203.0.113.9","curl/8.5.0","req-1","{\\"reason\\":\\"wrong_password\\"}","0000000000000000000000000000000000000000000000000000000000000000"]',
    );
    expect(linkHash(ROW)).toBe('eb193c956b2c72b335689847242462f0deb3bfb8d12f2182a0f0bc43778f9d64');
  });

  it.each(Object.keys(ROW) as (keyof AuditLinkFields)[])('changes when %s changes', (field) => {
    const value = ROW[field];
    const changed = {
      ...ROW,
      [field]: typeof value === 'number' ? value + 1 : value === null ? 'x' : `${value}x`,
    };
    expect(linkHash(changed)).not.toBe(linkHash(ROW));
  });

  it('cannot be fooled by moving text between fields', () => {
    // With naive concatenation "ab" + "c" and "a" + "bc" would collide; a JSON array cannot.
    const a = { ...ROW, ip: '10.0.0.1', user_agent: 'x' };
    const b = { ...ROW, ip: '10.0.0.1x', user_agent: '' };
    expect(linkHash(a)).not.toBe(linkHash(b));
    expect(linkHash({ ...ROW, actor_id: null })).not.toBe(linkHash({ ...ROW, actor_id: 'null' }));
  });

  it('serialises details canonically: sorted keys at every depth', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, 1], c: null } })).toBe(
      '{"a":{"c":null,"d":[2,1]},"b":1}',
    );
    expect(canonicalJson({ z: true, y: 'é' })).toBe(canonicalJson({ y: 'é', z: true }));
  });

  // JSON.parse makes `__proto__` an own key; assigned while sorting, it set the prototype and
  // dropped out of the hashed text.
  it('keeps an own __proto__ key in the canonical text', () => {
    const parsed: unknown = JSON.parse('{"b":2,"__proto__":{"y":1,"x":[1]},"a":{"__proto__":3}}');
    expect(canonicalJson(parsed)).toBe('{"__proto__":{"x":[1],"y":1},"a":{"__proto__":3},"b":2}');
  });
});
