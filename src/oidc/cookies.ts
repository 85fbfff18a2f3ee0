/**
 * Cookie names. The `__Host-` prefix makes browsers refuse such a cookie unless it is Secure, set
 * over HTTPS by this very host, with `Path=/` and no `Domain`: a sibling subdomain cannot plant
 * one (cookie tossing, a login CSRF), which `__Secure-` does not prevent. Hence both cookies have
 * `Path=/`: they reach the rest of this host's API too, which never reads them.
 */
export function cookieNames(secure: boolean): { login: string; handoff: string } {
  const prefix = secure ? '__Host-' : '';
  return { login: `${prefix}bulwark-oidc-login`, handoff: `${prefix}bulwark-oidc-handoff` };
}

const COOKIE_VALUE = /^[A-Za-z0-9._-]{1,4096}$/;

/**
 * The value of cookie `name` in a Cookie header, or undefined. Only values in the alphabet this
 * module writes (base64url and dots) are returned; anything else is treated as absent.
 */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (header === undefined || header.length > 16_384) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    const value = part.slice(eq + 1).trim();
    return COOKIE_VALUE.test(value) ? value : undefined;
  }
  return undefined;
}

export interface CookieOptions {
  maxAgeSeconds: number;
  secure: boolean;
}

/**
 * A Set-Cookie value: always `Path=/` and no `Domain` (as `__Host-` demands), HttpOnly and
 * SameSite=Lax (sent on the provider's top-level redirect back).
 */
export function serializeCookie(name: string, value: string, options: CookieOptions): string {
  return [
    `${name}=${value}`,
    'Path=/',
    `Max-Age=${options.maxAgeSeconds}`,
    'HttpOnly',
    'SameSite=Lax',
    ...(options.secure ? ['Secure'] : []),
  ].join('; ');
}

/** A Set-Cookie value that deletes the cookie. */
export function clearCookie(name: string, secure: boolean): string {
  return serializeCookie(name, '', { maxAgeSeconds: 0, secure });
}
