import { Worker } from 'node:worker_threads';

/** zxcvbn's verdict on one password. */
export interface Estimate {
  /** 0 (too guessable) to 4 (very unguessable). */
  score: number;
  /** zxcvbn's warning, an English sentence, or null. */
  warning: string | null;
  /** The warning zxcvbn gives for a password built from the user's own data. */
  userInputsWarning: string;
}

export interface PasswordEstimatorOptions {
  /** The worker stops after this long without work, giving its memory back (ms). */
  idleMs?: number;
  /** Most estimates waiting at once; beyond it estimate() fails at once. */
  maxPending?: number;
  /** zxcvbn's l33t variants tried per password. */
  l33tMaxSubstitutions: number;
  /**
   * The worker's V8 heap limits. A worker that reaches them is ended by V8 and fails the checks it
   * held (they answer as unavailable); the next check starts a new one. Default
   * {@link ESTIMATOR_HEAP_LIMITS}.
   */
  heapLimits?: { maxYoungGenerationSizeMb: number; maxOldGenerationSizeMb: number };
}

/**
 * The dictionaries hold ~30 MB of live heap once loaded and a worst-case check (100 analysed code
 * points, 4 l33t variants) adds little. Without limits V8 sizes a worker's heap like a main
 * thread's: its young generation grew to 32 MB and the worker to ~120 MB of RSS at its peak during
 * a burst of checks; with these it stays near 64 MB (measured on 35 worst-case checks), with twice
 * the live heap as headroom. bench/README.md has the figures.
 */
export const ESTIMATOR_HEAP_LIMITS = Object.freeze({
  maxYoungGenerationSizeMb: 4,
  maxOldGenerationSizeMb: 64,
});

interface Pending {
  resolve(estimate: Estimate): void;
  reject(error: Error): void;
}

type Reply =
  | { id: number; score: number; warning: string | null; userInputsWarning: string }
  | { id: number; error: string };

const WORKER_URL = new URL('./password-estimator.worker.mjs', import.meta.url);

/** estimate() could not be answered: too many waiting, or the worker failed. */
export class EstimatorUnavailableError extends Error {
  override readonly name = 'EstimatorUnavailableError';
}

/**
 * zxcvbn in one worker thread, started on first use and stopped when idle. Loading its
 * dictionaries costs a few hundred ms and ~40 MB, and an estimate up to ~50 ms; on the event loop
 * both would stall every request in flight (a registration burst would show in everyone's p99).
 * Estimates are answered in order; at most `maxPending` wait, so a burst cannot queue work
 * without bound. A worker that dies fails what it held and is started again on the next call.
 */
export class PasswordEstimator {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly idleMs: number;
  private readonly maxPending: number;

  constructor(private readonly options: PasswordEstimatorOptions) {
    this.idleMs = options.idleMs ?? 30_000;
    this.maxPending = options.maxPending ?? 64;
  }

  estimate(password: string, userInputs: readonly string[]): Promise<Estimate> {
    if (this.pending.size >= this.maxPending) {
      return Promise.reject(new EstimatorUnavailableError('too many password checks waiting'));
    }
    const worker = this.start();
    const id = this.nextId++;
    return new Promise<Estimate>((resolve, reject) => {
      // Keeps the process alive while an answer is awaited (a CLI run), and only then.
      if (this.pending.size === 0) worker.ref();
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, password, userInputs: [...userInputs] });
    });
  }

  /** Whether a worker is running (for tests and diagnostics). */
  get running(): boolean {
    return this.worker !== undefined;
  }

  /** Stops the worker now; waiting estimates fail. */
  async stop(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    this.detach(worker, new EstimatorUnavailableError('password estimator stopped'));
    await worker.terminate();
  }

  private start(): Worker {
    if (this.idleTimer) {
      clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
    }
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_URL, {
      workerData: { l33tMaxSubstitutions: this.options.l33tMaxSubstitutions },
      resourceLimits: { ...(this.options.heapLimits ?? ESTIMATOR_HEAP_LIMITS) },
    });
    worker.on('message', (reply: Reply) => this.settle(reply));
    worker.on('error', (error) => {
      this.detach(
        worker,
        new EstimatorUnavailableError('password estimator failed', { cause: error }),
      );
    });
    worker.on('exit', () => {
      this.detach(worker, new EstimatorUnavailableError('password estimator exited'));
    });
    this.worker = worker;
    return worker;
  }

  private settle(reply: Reply): void {
    const waiting = this.pending.get(reply.id);
    if (!waiting) return;
    this.pending.delete(reply.id);
    if ('error' in reply) {
      waiting.reject(new EstimatorUnavailableError(`password estimate failed (${reply.error})`));
    } else {
      waiting.resolve({
        score: reply.score,
        warning: reply.warning,
        userInputsWarning: reply.userInputsWarning,
      });
    }
    if (this.pending.size === 0) {
      this.worker?.unref();
      this.scheduleIdleStop();
    }
  }

  private scheduleIdleStop(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.pending.size === 0) void this.stop();
    }, this.idleMs);
    this.idleTimer.unref();
  }

  /** Forgets `worker` (if still current) and fails everything it was holding. */
  private detach(worker: Worker, error: Error): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    if (this.idleTimer) {
      clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
    }
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const entry of waiting) entry.reject(error);
  }
}
