// Shared pieces of the benchmarks: target processes, the load-generator process, RSS sampling
// and statistics. Every target and every load run is its own process.
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const LOAD = fileURLToPath(new URL('./load.mjs', import.meta.url));

/**
 * Starts `script` (relative to bench/) as a child process and waits for the one JSON line it
 * prints when ready. `stop()` sends SIGTERM and waits for the exit.
 */
export function startTarget(name, script, args = [], { timeoutMs = 60_000, env } = {}) {
  const file = fileURLToPath(new URL(`../${script}`, import.meta.url));
  const child = spawn(process.execPath, [file, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-4_000);
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name}: not ready after ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    let buffered = '';
    const onData = (chunk) => {
      buffered += chunk;
      const newline = buffered.indexOf('\n');
      if (newline === -1) return;
      clearTimeout(timer);
      child.stdout.off('data', onData);
      child.stdout.resume();
      const info = JSON.parse(buffered.slice(0, newline));
      resolve({
        name,
        ...info,
        pid: child.pid,
        stop: () =>
          new Promise((done) => {
            if (child.exitCode !== null) return done();
            child.once('exit', () => done());
            child.kill('SIGTERM');
            setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
          }),
      });
    };
    child.stdout.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name}: exited with ${code} before it was ready\n${stderr}`));
    });
  });
}

/** Runs one load in its own process (see load.mjs for the spec) and returns its summary. */
export async function load(spec) {
  const { stdout } = await run(process.execPath, [LOAD, JSON.stringify(spec)], {
    timeout: (spec.durationMs ?? 5_000) + 60_000,
    maxBuffer: 1 << 20,
  });
  return JSON.parse(stdout);
}

/** Count of answers other than `expected` (and transport errors): must be 0 for a valid run. */
export function unexpected(result, expected = 200) {
  let count = result.errors + result.timeouts;
  for (const [status, n] of Object.entries(result.statuses)) {
    if (Number(status) !== expected) count += n;
  }
  return count;
}

/** Resident set size of a process in MB (Linux /proc), or undefined elsewhere. */
export function rssMb(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /VmRSS:\s+(\d+) kB/.exec(status);
    return match ? Number(match[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds (user + system) a process has used so far (Linux /proc), or undefined elsewhere.
 * Per request, this is what a target costs regardless of how busy the machine is: on a shared
 * or small machine the load generator, not the server, may be the limit of req/s.
 */
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}
/** USER_HZ: 100 on every Linux architecture Node supports. */
const CLOCK_TICKS = 100;

/** Samples a process's RSS every `everyMs` until stopped; stop() returns the peak in MB. */
export function sampleRss(pid, everyMs = 50) {
  let peak = rssMb(pid) ?? 0;
  const timer = setInterval(() => {
    peak = Math.max(peak, rssMb(pid) ?? 0);
  }, everyMs);
  return () => {
    clearInterval(timer);
    return Math.max(peak, rssMb(pid) ?? 0);
  };
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** { median, min, max } of a list of numbers. */
export function spread(values) {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values) };
}
