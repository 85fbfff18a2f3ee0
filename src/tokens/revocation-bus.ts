import type { Logger } from 'pino';
import type { SharedStore } from '../store/index.js';
import type { SessionState } from './session-state.js';

const CHANNEL = 'sessions:ended';
const SESSION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Ids per message; endAll of a user with more sessions sends several messages. */
const BATCH = 500;
/** The longest announcement `publish` sends: a full batch, `"<36 chars>",` per id, in `[]`. */
const MAX_MESSAGE_LENGTH = BATCH * 39 + 1;

/**
 * Carries ended session ids to every instance through the shared store, so a logout or password
 * change on one instance rejects that session's access tokens on all of them within a message
 * round-trip, with no database query per request. Pub/sub is fire-and-forget, so the database
 * stays the authority: SessionState re-checks "active" answers periodically, and after a Redis
 * reconnection (when messages may have been lost) every instance forgets what it believed active.
 */
export class RevocationBus {
  constructor(
    private readonly store: SharedStore,
    private readonly state: SessionState,
    private readonly logger: Pick<Logger, 'warn' | 'info'>,
  ) {
    store.subscribe(CHANNEL, (message) => this.receive(message));
    store.onReconnect(() => {
      this.logger.info(
        'shared store reconnected: re-checking active sessions against the database',
      );
      state.forgetActive();
    });
  }

  /** Announces ended sessions to every instance; failures are logged, never thrown. */
  publish(sessionIds: readonly string[]): void {
    for (let i = 0; i < sessionIds.length; i += BATCH) {
      const batch = sessionIds.slice(i, i + BATCH);
      this.store.publish(CHANNEL, JSON.stringify(batch)).catch((error: unknown) => {
        this.logger.warn(
          { err: error, sessions: batch.length },
          'could not announce ended sessions to other instances; they notice at their next database re-check',
        );
      });
    }
  }

  private receive(message: string): void {
    // Whoever can write to Redis can send anything: only well-formed session ids are accepted,
    // and a message longer than a full batch is not even parsed (hundreds of megabytes of JSON
    // would hold the event loop of every instance).
    let ids: unknown;
    try {
      ids = message.length > MAX_MESSAGE_LENGTH ? undefined : JSON.parse(message);
    } catch {
      ids = undefined;
    }
    if (!Array.isArray(ids) || ids.length > BATCH) {
      this.logger.warn('ignored a malformed session revocation message');
      return;
    }
    const valid = ids.filter((id): id is string => typeof id === 'string' && SESSION_ID.test(id));
    this.state.markEnded(valid);
  }
}
