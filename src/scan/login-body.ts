/**
 * `--login-body`: the shape of the login route's JSON body, for an API whose OpenAPI document
 * does not describe it (or that has none). A JSON object whose string values `"{user}"` and
 * `"{password}"` mark where the probe's user name and (wrong) password go, nested or not:
 * `{"username":"{user}","password":"{password}"}`, `{"user":{"email":"{user}","password":"{password}"}}`.
 * Every other value is sent as given (`"grant_type": "password"`, `"remember": false`).
 */

/** The user name every login probe sends: an address nobody has (RFC 2606's example.com). */
export const PROBE_USER = 'audit-probe@example.com';
/** The password every login probe sends: nobody's. */
export const PROBE_PASSWORD = 'not the password of anyone 7f3a';

/** A body shape is a few fields; a kilobyte more is a mistake (a file's content, pasted). */
export const MAX_LOGIN_BODY_BYTES = 4096;
/** Nesting deeper than this is no login body (Devise's `{user: {…}}` is two levels). */
const MAX_DEPTH = 8;

const PLACEHOLDERS = { '{user}': PROBE_USER, '{password}': PROBE_PASSWORD } as const;
type Placeholder = keyof typeof PLACEHOLDERS;
/** A string value that looks like a placeholder (`{pass}`, `{username}`): a typo, refused. */
const PLACEHOLDER_LIKE = /^\{[A-Za-z_]{1,32}\}$/;

/** The body shape given is unusable; the message says why, and quotes none of its values. */
export class LoginBodyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LoginBodyError';
  }
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Checks a body shape: a JSON object (at most MAX_DEPTH deep) holding `"{user}"` and
 * `"{password}"` once each, as whole string values, and no other `{name}`. Throws
 * LoginBodyError otherwise.
 */
export function checkLoginBody(shape: unknown): Record<string, unknown> {
  if (!isPlainObject(shape)) {
    throw new LoginBodyError(
      'must be a JSON object, e.g. {"username":"{user}","password":"{password}"}',
    );
  }
  const count: Record<Placeholder, number> = { '{user}': 0, '{password}': 0 };
  const walk = (value: unknown, depth: number): void => {
    if (depth > MAX_DEPTH) throw new LoginBodyError(`is nested more than ${MAX_DEPTH} levels deep`);
    if (typeof value === 'string') {
      if (value === '{user}' || value === '{password}') count[value] += 1;
      else if (PLACEHOLDER_LIKE.test(value)) {
        throw new LoginBodyError(
          `has the placeholder ${value}, which is not one: use "{user}" and "{password}"`,
        );
      }
      return;
    }
    if (Array.isArray(value)) for (const item of value) walk(item, depth + 1);
    else if (isPlainObject(value)) for (const item of Object.values(value)) walk(item, depth + 1);
  };
  walk(shape, 0);
  for (const name of Object.keys(count) as Placeholder[]) {
    if (count[name] === 0) {
      throw new LoginBodyError(
        `has no "${name}" value: mark where the ${name === '{user}' ? 'user name' : 'password'} goes, e.g. {"username":"{user}","password":"{password}"}`,
      );
    }
    if (count[name] > 1) throw new LoginBodyError(`has "${name}" more than once`);
  }
  return shape;
}

/** Reads a body shape given as JSON text (see checkLoginBody). Throws LoginBodyError. */
export function parseLoginBody(text: string): Record<string, unknown> {
  if (Buffer.byteLength(text) > MAX_LOGIN_BODY_BYTES) {
    throw new LoginBodyError(`is larger than ${MAX_LOGIN_BODY_BYTES} bytes`);
  }
  let shape: unknown;
  try {
    shape = JSON.parse(text) as unknown;
  } catch {
    // JSON.parse's message quotes the text, which may hold a real password typed by mistake.
    throw new LoginBodyError('is not valid JSON (quote the names and the placeholders)');
  }
  return checkLoginBody(shape);
}

/** The body shape with the probe's user name and password in place of the placeholders. */
export function fillLoginBody(shape: Record<string, unknown>): Record<string, unknown> {
  const fill = (value: unknown): unknown =>
    typeof value === 'string'
      ? value === '{user}' || value === '{password}'
        ? PLACEHOLDERS[value]
        : value
      : Array.isArray(value)
        ? value.map(fill)
        : isPlainObject(value)
          ? Object.fromEntries(Object.entries(value).map(([key, item]) => [key, fill(item)]))
          : value;
  return fill(checkLoginBody(shape)) as Record<string, unknown>;
}
