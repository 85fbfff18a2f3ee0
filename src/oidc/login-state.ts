import { DecryptionError, type FieldCipher } from '../crypto/index.js';

/** What a started sign-in needs at its callback; sealed into the login cookie, never stored. */
export interface LoginState {
  provider: string;
  state: string;
  nonce: string;
  codeVerifier: string;
  /** The app URL the one-time code goes to (one of the provider's appUrls). */
  returnTo: string;
  /** Epoch ms after which the callback is refused. */
  expiresAt: number;
  /** A step-up sign-in: the provider must have authenticated the user within this many seconds. */
  maxAge?: number;
}

function isLoginState(value: unknown): value is LoginState {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    ['provider', 'state', 'nonce', 'codeVerifier', 'returnTo'].every(
      (key) => typeof v[key] === 'string',
    ) &&
    Number.isSafeInteger(v.expiresAt) &&
    (v.maxAge === undefined || Number.isSafeInteger(v.maxAge))
  );
}

/**
 * Seals and opens the login state with AES-256-GCM (FieldCipher, its own key purpose). The AAD
 * binds the value to the cookie's name and the provider, so a cookie cannot be replayed under
 * another name or at another provider's callback; the browser holds the only copy, so any
 * instance can finish a sign-in another one started.
 */
export class LoginStateSealer {
  constructor(
    private readonly cipher: FieldCipher,
    private readonly cookieName: string,
  ) {}

  seal(state: LoginState): string {
    return this.cipher.encrypt(JSON.stringify(state), this.context(state.provider));
  }

  /** The state, or null when the value is missing, altered, for another provider or unreadable. */
  open(sealed: string | undefined, provider: string): LoginState | null {
    if (sealed === undefined) return null;
    try {
      const value = JSON.parse(this.cipher.decrypt(sealed, this.context(provider))) as unknown;
      return isLoginState(value) && value.provider === provider ? value : null;
    } catch (error) {
      if (error instanceof DecryptionError || error instanceof SyntaxError) return null;
      throw error;
    }
  }

  private context(provider: string) {
    return { table: 'cookie', column: this.cookieName, rowId: provider };
  }
}
