import { describe, expect, it } from 'vitest';
import { ProgressBar } from '../../src/cli/progress.js';

class Capture {
  text = '';
  constructor(readonly isTTY: boolean) {}
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
}

function clock(): { now: () => number; advance: (ms: number) => void } {
  let t = 0;
  return { now: () => t, advance: (ms) => (t += ms) };
}

describe('ProgressBar on a terminal', () => {
  it('redraws one line in place, at most every redraw interval, and ends it', () => {
    const out = new Capture(true);
    const c = clock();
    const bar = new ProgressBar(out, { now: c.now, redrawIntervalMs: 100 });
    bar.update('users.phone', 0, 200);
    bar.update('users.phone', 10, 200); // too soon: not drawn
    c.advance(100);
    bar.update('users.phone', 100, 200);
    bar.update('users.phone', 200, 200); // the end is always drawn
    bar.end();
    const frames = out.text.split('\r\x1b[2K').filter(Boolean);
    expect(frames).toEqual([
      `[${'-'.repeat(30)}] users.phone 0/200 (0%)`,
      `[${'#'.repeat(15)}${'-'.repeat(15)}] users.phone 100/200 (50%)`,
      `[${'#'.repeat(30)}] users.phone 200/200 (100%)\n`,
    ]);
  });

  it('starts a new line for the next task', () => {
    const out = new Capture(true);
    const bar = new ProgressBar(out, { now: () => 0 });
    bar.update('a', 1, 1);
    bar.update('b', 0, 0);
    bar.end();
    expect(out.text).toBe(
      `\r\x1b[2K[${'#'.repeat(30)}] a 1/1 (100%)\n\r\x1b[2K[${'#'.repeat(30)}] b 0/0 (100%)\n`,
    );
  });
});

describe('ProgressBar in a log (not a terminal)', () => {
  it('writes plain lines: the start, each further 10 %, and the end', () => {
    const out = new Capture(false);
    const bar = new ProgressBar(out, { now: () => 0 });
    for (let done = 0; done <= 1000; done += 20) bar.update('users.phone', done, 1000);
    bar.end();
    const lines = out.text.trimEnd().split('\n');
    expect(lines[0]).toBe('progress: users.phone 0/1000 (0%)');
    expect(lines.at(-1)).toBe('progress: users.phone 1000/1000 (100%)');
    expect(lines).toHaveLength(11);
    expect(out.text.includes('\r') || out.text.includes('\x1b')).toBe(false);
  });

  it('writes a line at least every plain interval while work moves, none while it stalls', () => {
    const out = new Capture(false);
    const c = clock();
    const bar = new ProgressBar(out, { now: c.now, plainIntervalMs: 10_000 });
    bar.update('t', 0, 1000);
    c.advance(10_000);
    bar.update('t', 0, 1000); // no progress: nothing
    bar.update('t', 1, 1000); // moved, and the interval passed
    bar.update('t', 2, 1000); // moved, but too soon
    expect(out.text).toBe('progress: t 0/1000 (0%)\nprogress: t 1/1000 (0%)\n');
  });

  it('never shows more done than total when rows were added meanwhile', () => {
    const out = new Capture(false);
    const bar = new ProgressBar(out, { now: () => 0 });
    bar.update('t', 12, 10);
    expect(out.text).toBe('progress: t 12/12 (100%)\n');
  });
});
