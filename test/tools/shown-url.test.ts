import { describe, expect, it } from 'vitest';
import { shownUrl } from '../../src/tools/shown-url.js';

describe('shownUrl', () => {
  it.each([
    ['https://user:pa55-w0rd@idp.example/jwks?x=1#k', 'https://***@idp.example/jwks?x=1#k'],
    ['http://user@127.0.0.1:8080/jwks', 'http://***@127.0.0.1:8080/jwks'],
    ['http://:pa55-w0rd@h/', 'http://***@h/'],
    // Special schemes parse without the slashes too.
    ['https:user:pa55-w0rd@h/jwks', 'https://***@h/jwks'],
    // Not URLs: masked up to the last "@".
    ['https://user:pa55-w0rd@bad host/jwks', 'https://***@bad host/jwks'],
    ['https://user:pa@55@w0rd@bad host', 'https://***@bad host'],
    [' https:\\\\user:pa55-w0rd@bad host', ' https:\\\\***@bad host'],
    // Nothing to hide: shown as given.
    ['https://idp.example/jwks', 'https://idp.example/jwks'],
    ['not a url', 'not a url'],
  ])('shows %j as %j', (given, shown) => {
    expect(shownUrl(given)).toBe(shown);
    expect(shownUrl(given)).not.toContain('pa55');
  });

  it('takes a parsed URL', () => {
    expect(shownUrl(new URL('https://u:p@h.example:8443/a'))).toBe('https://***@h.example:8443/a');
    expect(shownUrl(new URL('https://h.example'))).toBe('https://h.example/');
  });
});
