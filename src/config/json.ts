/** A parsed JSON object, as config files and JSON variables hold them. */
export type Json = Record<string, unknown>;

/**
 * `target[key] = value`, except that a `__proto__` key (JSON.parse makes such own keys) becomes
 * an own property too: assigned, it would set the target's prototype and its value would vanish
 * from the copy. Here, in the lowest layer, so that every copy of untrusted JSON (audit details,
 * log lines, scan samples) makes it the same way.
 */
export function setOwn(target: Json, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(target, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  } else {
    target[key] = value;
  }
}

/** True for a JSON object (not null, not an array). */
export function isPlainObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
