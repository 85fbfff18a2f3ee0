import { describe, expect, it } from 'vitest';
import { clearCookie, cookieNames, readCookie, serializeCookie } from '../../src/oidc/cookies.js';

describe('the sign-in cookies', () => {
  it('are named __Host- over HTTPS, so no sibling subdomain can plant one', () => {
    expect(cookieNames(true)).toEqual({
      login: '__Host-bulwark-oidc-login',
      handoff: '__Host-bulwark-oidc-handoff',
    });
    // Plain-http development: a prefixed cookie would be refused by the browser.
    expect(cookieNames(false)).toEqual({
      login: 'bulwark-oidc-login',
      handoff: 'bulwark-oidc-handoff',
    });
  });

  it('carry what __Host- demands: Secure, Path=/ and no Domain', () => {
    const set = serializeCookie('__Host-x', 'v.1', { maxAgeSeconds: 60, secure: true });
    expect(set).toBe('__Host-x=v.1; Path=/; Max-Age=60; HttpOnly; SameSite=Lax; Secure');
    expect(set).not.toMatch(/domain=/i);
    expect(clearCookie('x', false)).toBe('x=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax');
  });

  it('reads only values in the alphabet this module writes', () => {
    expect(readCookie('a=1; __Host-x=abc.DEF_-9; b=2', '__Host-x')).toBe('abc.DEF_-9');
    // A look-alike name is another cookie.
    expect(readCookie('__Secure-x=abc', '__Host-x')).toBeUndefined();
    expect(readCookie('__Host-x=a%20b', '__Host-x')).toBeUndefined();
    expect(readCookie('__Host-x=', '__Host-x')).toBeUndefined();
    expect(readCookie(`__Host-x=${'a'.repeat(4097)}`, '__Host-x')).toBeUndefined();
    expect(readCookie(`__Host-x=a; pad=${'b'.repeat(16_384)}`, '__Host-x')).toBeUndefined();
    expect(readCookie(undefined, '__Host-x')).toBeUndefined();
  });
});
