import { setImmediate as nextCheckPhase } from 'node:timers/promises';

/**
 * Lets the event loop run once, so that a SIGTERM or SIGINT that arrived during synchronous work
 * (reading a file, a migration on SQLite, loading modules) reaches its handler. Node runs signal
 * handlers from the loop's poll phase; a start-up made only of synchronous steps and settled
 * promises never gets there, and Node 22 loads modules without one either.
 */
export async function eventLoopTurn(): Promise<void> {
  // Two check phases: the first may come just before the poll phase that reads the signal.
  await nextCheckPhase();
  await nextCheckPhase();
}

/**
 * A point where a start-up may stop: after one turn of the event loop (see {@link eventLoopTurn}),
 * throws the signal's reason if the start-up was aborted meanwhile.
 */
export async function startCheckpoint(signal: AbortSignal | undefined): Promise<void> {
  if (signal === undefined) return;
  await eventLoopTurn();
  signal.throwIfAborted();
}
