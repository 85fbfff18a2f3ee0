import { randomToken, sha256Hex, timingSafeEqualString } from '../crypto/index.js';
import type { SharedStore } from '../store/index.js';

/** What a one-time code stands for: a user whose provider sign-in just succeeded. */
export interface Handoff {
  userId: string;
  provider: string;
  identityId: string;
  /**
   * The user's session generation when the sign-in was made (users.session_generation): ending
   * every session of the account after that moves it on, and the exchange refuses the code.
   */
  generation: number;
  /**
   * When the provider last authenticated the user (its ID token's `auth_time`, epoch ms, never
   * after the callback); absent when it did not say.
   */
  authTime?: number;
}

/** Why a code was refused; recorded in the `oidc.code_rejected` event, never told apart to clients. */
export type HandoffRefusal = 'unknown_or_used' | 'expired' | 'unbound';

interface Stored extends Handoff {
  /** SHA-256 of the browser secret held in the hand-off cookie. */
  binding: string;
  expiresAt: number;
  /** Set when the code was first held for a second factor: it is never held past this. */
  heldUntil?: number;
}

function isStored(value: unknown): value is Stored {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    ['userId', 'provider', 'identityId', 'binding'].every((k) => typeof v[k] === 'string') &&
    Number.isSafeInteger(v.generation) &&
    Number.isSafeInteger(v.expiresAt) &&
    (v.authTime === undefined || Number.isSafeInteger(v.authTime)) &&
    (v.heldUntil === undefined || Number.isSafeInteger(v.heldUntil))
  );
}

/**
 * One-time codes that carry a finished sign-in from the callback to the front end, so tokens
 * never travel in a URL. A code is 256 random bits, lives `ttlMs`, is kept in the shared store
 * under its hash (any instance can redeem it, Redis included), is taken atomically (single use
 * even under concurrent redemption) and only counts when the same browser presents the secret
 * cookie it was issued with.
 */
export class HandoffCodes {
  constructor(
    private readonly store: SharedStore,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** A new code and the browser secret to set in the hand-off cookie. */
  async issue(handoff: Handoff): Promise<{ code: string; browserSecret: string }> {
    const code = randomToken(32);
    const browserSecret = randomToken(32);
    const stored: Stored = {
      ...handoff,
      binding: sha256Hex(browserSecret),
      expiresAt: this.now() + this.ttlMs,
    };
    // The store's own expiry is a clean-up: the authoritative check is `expiresAt` against this
    // service's clock. A collision of 256-bit codes cannot happen; putOnce refuses one anyway.
    if (!(await this.store.putOnce(key(code), JSON.stringify(stored), this.ttlMs + 5_000))) {
      throw new Error('one-time code collision');
    }
    return { code, browserSecret };
  }

  /**
   * Consumes `code`: the hand-off, or why it is refused. A refused code is gone as well. A
   * redeemed one can be put back once with `holdFor`, still bound to the same browser, for a
   * sign-in that must first show its second factor (typing a code takes longer than `ttlMs`).
   * The hold's deadline is set by the first hold and never moves: refused retries cannot keep a
   * code alive.
   */
  async redeem(
    code: string,
    browserSecret: string | undefined,
  ): Promise<
    | { ok: true; handoff: Handoff; holdFor: (ms: number) => Promise<void> }
    | { ok: false; reason: HandoffRefusal }
  > {
    const raw = await this.store.take(key(code));
    if (raw === null) return { ok: false, reason: 'unknown_or_used' };
    const stored = JSON.parse(raw) as unknown;
    if (!isStored(stored)) return { ok: false, reason: 'unknown_or_used' };
    if (stored.expiresAt <= this.now()) return { ok: false, reason: 'expired' };
    if (
      browserSecret === undefined ||
      !timingSafeEqualString(sha256Hex(browserSecret), stored.binding)
    ) {
      return { ok: false, reason: 'unbound' };
    }
    let held = false;
    return {
      ok: true,
      handoff: {
        userId: stored.userId,
        provider: stored.provider,
        identityId: stored.identityId,
        generation: stored.generation,
        ...(stored.authTime === undefined ? {} : { authTime: stored.authTime }),
      },
      holdFor: async (ms) => {
        if (held) return;
        held = true;
        const heldUntil = stored.heldUntil ?? this.now() + ms;
        const left = heldUntil - this.now();
        if (left <= 0) return;
        // putOnce: a code is never overwritten, so a put-back cannot revive a code redeemed
        // meanwhile by a concurrent request (that one took it first and holds it, if anyone).
        await this.store.putOnce(
          key(code),
          JSON.stringify({ ...stored, expiresAt: heldUntil, heldUntil } satisfies Stored),
          left + 5_000,
        );
      },
    };
  }
}

function key(code: string): string {
  return `oidc-code:${sha256Hex(code)}`;
}
