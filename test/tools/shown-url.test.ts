import { describe, expect, it } from 'vitest';
import { shownUrl } from '../../src/tools/shown-url.js';

describe('shownUrl', () => {
  it.each([
    ['https://user:pa55-w0rd@idp.example/jwks?x=1#k', 'https://***@idp.example/jwks?x=***#***'],
    ['http://user@127.0.0.1:8080/jwks', 'http://***@127.0.0.1:8080/jwks'],
    ['http://:pa55-w0rd@h/', 'http://***@h/'],
    // Special schemes parse without the slashes too.
    ['https:user:pa55-w0rd@h/jwks', 'https://***@h/jwks'],
    // Query values and the fragment: keys, signatures, SAS tokens. The names stay, to tell the
    // URL apart; a term without "=" may be a bare key, and an empty value hides nothing.
    [
      'https://acct.blob.core.windows.net/keys/jwks.json?sv=2022-11-02&sig=pa55%2Bw0rd%3D&se=2030',
      'https://acct.blob.core.windows.net/keys/jwks.json?sv=***&sig=***&se=***',
    ],
    ['https://idp.example/jwks?key=pa55-w0rd', 'https://idp.example/jwks?key=***'],
    [
      'https://idp.example/jwks?token=pa55=w0rd&&debug=',
      'https://idp.example/jwks?token=***&&debug=',
    ],
    ['https://idp.example/jwks?pa55-w0rd', 'https://idp.example/jwks?***'],
    ['https://idp.example/jwks#access_token=pa55-w0rd', 'https://idp.example/jwks#***'],
    ['https://idp.example/jwks#x?key=pa55-w0rd', 'https://idp.example/jwks#***'],
    // Not URLs: masked up to the last "@", and the query and fragment as above.
    ['https://user:pa55-w0rd@bad host/jwks', 'https://***@bad host/jwks'],
    ['https://user:pa@55@w0rd@bad host', 'https://***@bad host'],
    [' https:\\\\user:pa55-w0rd@bad host', ' https:\\\\***@bad host'],
    ['https://bad host/jwks?api_key=pa55-w0rd#pa55', 'https://bad host/jwks?api_key=***#***'],
    ['https://u:p#a?s=s@bad host/jwks?sig=pa55-w0rd', 'https://***@bad host/jwks?sig=***'],
    // Nothing to hide: shown as given.
    ['https://idp.example/jwks', 'https://idp.example/jwks'],
    ['https://idp.example/jwks?', 'https://idp.example/jwks?'],
    ['not a url', 'not a url'],
  ])('shows %j as %j', (given, shown) => {
    expect(shownUrl(given)).toBe(shown);
    expect(shownUrl(given)).not.toContain('pa55');
  });

  it('takes a parsed URL', () => {
    expect(shownUrl(new URL('https://u:p@h.example:8443/a'))).toBe('https://***@h.example:8443/a');
    expect(shownUrl(new URL('https://h.example/a?sig=pa55#k'))).toBe(
      'https://h.example/a?sig=***#***',
    );
    expect(shownUrl(new URL('https://h.example'))).toBe('https://h.example/');
  });
});
