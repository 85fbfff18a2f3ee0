/**
 * A counting semaphore with a FIFO wait queue. It bounds how many memory-hard hashes run at
 * once: each argon2 call holds `memoryKiB` for its whole run, so an unbounded burst of logins
 * would exhaust memory and the libuv thread pool (which file and DNS work share) long before
 * the CPU. FIFO order keeps an early request from being starved by later ones.
 *
 * A dozen lines do not justify a dependency (p-limit and friends are ESM-only wrappers of the
 * same idea), so it is written here.
 */
/** acquire() found the wait queue full. */
export class SemaphoreFullError extends Error {
  override readonly name = 'SemaphoreFullError';
}

export class Semaphore {
  readonly #max: number;
  readonly #maxQueued: number;
  #running = 0;
  /** Waiters in arrival order; `#head` avoids the O(n) cost of `Array.prototype.shift`. */
  #waiters: (() => void)[] = [];
  #head = 0;

  /**
   * @param max tasks that may hold a slot at once
   * @param maxQueued tasks that may wait for one; acquire() beyond it throws SemaphoreFullError
   */
  constructor(max: number, maxQueued = Number.POSITIVE_INFINITY) {
    if (!Number.isInteger(max) || max < 1) {
      throw new RangeError('Semaphore: max must be a positive integer');
    }
    if (maxQueued !== Number.POSITIVE_INFINITY && (!Number.isInteger(maxQueued) || maxQueued < 0)) {
      throw new RangeError('Semaphore: maxQueued must be a non-negative integer');
    }
    this.#max = max;
    this.#maxQueued = maxQueued;
  }

  /** Tasks holding a slot now. */
  get running(): number {
    return this.#running;
  }

  /** Tasks waiting for a slot. */
  get queued(): number {
    return this.#waiters.length - this.#head;
  }

  /**
   * Waits for a slot; the returned function gives it back and may safely be called twice.
   * @throws SemaphoreFullError when `maxQueued` tasks already wait
   */
  async acquire(): Promise<() => void> {
    if (this.#running < this.#max && this.queued === 0) {
      this.#running += 1;
    } else {
      if (this.queued >= this.#maxQueued) throw new SemaphoreFullError('too many tasks waiting');
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
      // The releasing task handed its slot over without decrementing `#running`.
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#release();
    };
  }

  /** Runs `task` once a slot is free and frees the slot when it settles. */
  async run<T>(task: () => Promise<T>): Promise<T> {
    const release = await this.acquire();
    try {
      return await task();
    } finally {
      release();
    }
  }

  #release(): void {
    const next = this.#waiters[this.#head];
    if (next === undefined) {
      this.#running -= 1;
      return;
    }
    // Hand the slot straight to the oldest waiter so no newcomer can barge in ahead of it.
    this.#head += 1;
    if (this.#head > 1024 && this.#head * 2 > this.#waiters.length) {
      this.#waiters = this.#waiters.slice(this.#head);
      this.#head = 0;
    }
    next();
  }
}
