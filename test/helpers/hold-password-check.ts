import { vi } from 'vitest';
import type { BulwarkApp } from '../../src/app.js';
import { PasswordHasher } from '../../src/crypto/index.js';

/** What a hold gives the test: `reached` once the held work is done, `release` to let it go on. */
export interface Hold {
  reached: Promise<void>;
  release: () => void;
}

/**
 * Holds the app's next call of `method` (every PasswordHasher shares the prototype) after it
 * has run: `reached` resolves once the hash is made or verified, and the request waits there
 * until `release()`. Tests use it to change the account between that work and what follows.
 * Restore with vi.restoreAllMocks() after the test.
 */
function holdNext(app: BulwarkApp, method: 'verify' | 'hash'): Hold {
  const { hasher } = app.services;
  // Bound before the spy replaces them.
  const original = { verify: hasher.verify.bind(hasher), hash: hasher.hash.bind(hasher) };
  let entered!: () => void;
  const reached = new Promise<void>((resolve) => (entered = resolve));
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const hold = async <T>(result: Promise<T>): Promise<T> => {
    const value = await result;
    entered();
    await released;
    return value;
  };
  if (method === 'verify') {
    vi.spyOn(PasswordHasher.prototype, 'verify').mockImplementationOnce((hash, password) =>
      hold(original.verify(hash, password)),
    );
  } else {
    vi.spyOn(PasswordHasher.prototype, 'hash').mockImplementationOnce((password) =>
      hold(original.hash(password)),
    );
  }
  return { reached, release };
}

/**
 * Holds the app's next password check (a login's, a change's) once the hash has been verified:
 * `checking` resolves then. Tests use it to change the account (disable, delete, password change
 * or reset) between a password check and what the request does next.
 */
export function holdNextPasswordCheck(app: BulwarkApp): {
  checking: Promise<void>;
  release: () => void;
} {
  const { reached, release } = holdNext(app, 'verify');
  return { checking: reached, release };
}

/** Holds the app's next password hash (a new password's) once it is made. */
export function holdNextPasswordHash(app: BulwarkApp): Hold {
  return holdNext(app, 'hash');
}
