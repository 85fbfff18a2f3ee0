import { SessionEndedError } from '../db/index.js';
import { invalidToken } from './access-token.js';

/**
 * Runs `write`, a write made on a session's say-so and held to it (holdOpenSession): when that
 * session ended (or its account was disabled, or its role changed) while the request was served,
 * `onEnded` records the refusal (unless the caller records it from the 401) and the request
 * answers 401 invalid_token, as every request of an ended session does. Any other error passes
 * through unchanged.
 */
export async function unlessSessionEnded<T>(
  write: () => Promise<T>,
  onEnded: () => void = () => undefined,
): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (!(error instanceof SessionEndedError)) throw error;
    onEnded();
    throw invalidToken('session ended', error);
  }
}
