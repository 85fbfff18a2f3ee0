/** Where progress goes: the CLI's stderr, or any stream with the same two members. */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

export interface ProgressOptions {
  /** Longest silence between two plain lines while work progresses (not a terminal), in ms. */
  plainIntervalMs?: number;
  /** Least time between two redraws on a terminal, in ms. */
  redrawIntervalMs?: number;
  now?: () => number;
}

const BAR_WIDTH = 30;

/**
 * A progress display for long CLI work. On a terminal, one line redrawn in place (`\r`, erase
 * line) at most every `redrawIntervalMs`. Otherwise (a pipe, a CI log, a file) plain lines: when
 * a task starts, each time it passes another 10 %, when it ends, and at least every
 * `plainIntervalMs` while it moves: a dozen lines per task, yet a slow run still shows life.
 */
export class ProgressBar {
  readonly #stream: ProgressStream;
  readonly #tty: boolean;
  readonly #plainIntervalMs: number;
  readonly #redrawIntervalMs: number;
  readonly #now: () => number;
  #task: string | undefined;
  #last = -Infinity;
  #lastDone = 0;
  #lastStep = -1;
  #drawn = false;

  constructor(stream: ProgressStream, options: ProgressOptions = {}) {
    this.#stream = stream;
    this.#tty = stream.isTTY === true;
    this.#plainIntervalMs = options.plainIntervalMs ?? 10_000;
    this.#redrawIntervalMs = options.redrawIntervalMs ?? 100;
    this.#now = options.now ?? Date.now;
  }

  /** Reports `done` of `total` for `task`; draws when due (always for a new task or the end). */
  update(task: string, done: number, total: number): void {
    const now = this.#now();
    const newTask = task !== this.#task;
    const finished = done >= total;
    // Rows added while the work runs can push `done` past the count taken at the start.
    const shownTotal = Math.max(total, done);
    const percent = shownTotal === 0 ? 100 : Math.floor((done / shownTotal) * 100);
    const step = Math.floor(percent / 10);
    if (!newTask && !finished) {
      const due = this.#tty
        ? now - this.#last >= this.#redrawIntervalMs
        : step > this.#lastStep ||
          (done > this.#lastDone && now - this.#last >= this.#plainIntervalMs);
      if (!due) return;
    }
    if (newTask && this.#tty && this.#drawn) this.#stream.write('\n');
    this.#task = task;
    this.#last = now;
    this.#lastDone = done;
    this.#lastStep = step;
    const text = `${task} ${done}/${shownTotal} (${percent}%)`;
    if (this.#tty) {
      const filled = Math.round((percent / 100) * BAR_WIDTH);
      const bar = `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}]`;
      this.#stream.write(`\r\x1b[2K${bar} ${text}`);
      this.#drawn = true;
    } else {
      this.#stream.write(`progress: ${text}\n`);
    }
  }

  /** Ends the redrawn line, so what follows starts on a line of its own. */
  end(): void {
    if (this.#tty && this.#drawn) this.#stream.write('\n');
    this.#drawn = false;
    this.#task = undefined;
  }
}
