import type { Logger } from 'pino';
import type { SharedStore } from '../store/index.js';
import type { SigningKeyStore } from './signing-keys.js';

const CHANNEL = 'signing-keys:rotated';
const KEY_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Carries signing-key rotations to every instance through the shared store, so that each one
 * re-reads its keys at once instead of at its next periodic refresh (up to a minute later).
 *
 * Why: until then an instance that has not re-read refuses the new key's tokens, signed by the
 * rotating instance from the start, unless its unknown-kid reload catches them; that reload is
 * budgeted to one per 10 s, and anyone sending tokens with made-up kids can keep the budget
 * spent, so valid tokens were refused until the periodic refresh. Pub/sub is fire-and-forget:
 * the periodic refresh stays the guarantee, and after a reconnection (when messages may have been
 * lost) every instance re-reads as well.
 */
export class KeyRotationBus {
  constructor(
    private readonly store: SharedStore,
    private readonly keys: Pick<SigningKeyStore, 'reloadAfterRotation'>,
    private readonly logger: Pick<Logger, 'warn'>,
  ) {
    store.subscribe(CHANNEL, (message) => this.receive(message));
    // Announcements sent meanwhile may be lost: re-read whatever the current key is.
    store.onReconnect(() => this.reload(null));
  }

  /** Announces a rotation to every instance; failures are logged, never thrown. */
  async announce(kid: string): Promise<void> {
    try {
      await this.store.publish(CHANNEL, kid);
    } catch (error) {
      this.logger.warn(
        { err: error, kid },
        'could not announce the signing-key rotation to other instances; they switch at their next periodic refresh',
      );
    }
  }

  private receive(message: string): void {
    // Whoever can write to Redis can send anything: only a key id is taken as a rotation, and
    // all it triggers is a re-read of the database, which is the authority on the keys.
    if (!KEY_ID.test(message)) {
      this.logger.warn('ignored a malformed signing-key rotation message');
      return;
    }
    this.reload(message);
  }

  private reload(kid: string | null): void {
    this.keys.reloadAfterRotation(kid).catch((error: unknown) => {
      this.logger.warn(
        { err: error },
        'reloading signing keys after a rotation elsewhere failed; the periodic refresh tries again',
      );
    });
  }
}
