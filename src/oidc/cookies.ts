/** Where the sign-in cookies are sent: the OIDC routes only, never the rest of the API. */
export const OIDC_COOKIE_PATH = '/api/v1/auth/oidc';
export const EXCHANGE_COOKIE_PATH = '/api/v1/auth/oidc/exchange';

/** Cookie names; the `__Secure-` prefix makes browsers refuse them unless Secure over HTTPS. */
export function cookieNames(secure: boolean): { login: string; handoff: string } {
  const prefix = secure ? '__Secure-' : '';
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
  path: string;
  maxAgeSeconds: number;
  secure: boolean;
}

/** A Set-Cookie value: always HttpOnly and SameSite=Lax (sent on the provider's top-level redirect back). */
export function serializeCookie(name: string, value: string, options: CookieOptions): string {
  return [
    `${name}=${value}`,
    `Path=${options.path}`,
    `Max-Age=${options.maxAgeSeconds}`,
    'HttpOnly',
    'SameSite=Lax',
    ...(options.secure ? ['Secure'] : []),
  ].join('; ');
}

/** A Set-Cookie value that deletes the cookie. */
export function clearCookie(name: string, path: string, secure: boolean): string {
  return serializeCookie(name, '', { path, maxAgeSeconds: 0, secure });
}
