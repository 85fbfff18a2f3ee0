import { vi } from 'vitest';
import type { BulwarkApp } from '../../src/app.js';
import { PasswordHasher } from '../../src/crypto/index.js';

/**
 * Holds the app's next password check after it has run: `checking` resolves once the hash has
 * been verified, and the request waits there until `release()`. Tests use it to change the
 * account (disable, delete, password change) between a login's password check and its session.
 */
export function holdNextPasswordCheck(app: BulwarkApp): {
  checking: Promise<void>;
  release: () => void;
} {
  const { hasher } = app.services;
  const check = hasher.verify.bind(hasher); // bound before the spy replaces it
  let entered!: () => void;
  const checking = new Promise<void>((resolve) => (entered = resolve));
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  vi.spyOn(PasswordHasher.prototype, 'verify').mockImplementationOnce(async (hash, password) => {
    const result = await check(hash, password);
    entered();
    await released;
    return result;
  });
  return { checking, release };
}
