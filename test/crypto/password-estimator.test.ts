import { afterEach, describe, expect, it } from 'vitest';
import {
  ESTIMATOR_HEAP_LIMITS,
  EstimatorUnavailableError,
  PasswordEstimator,
  type PasswordEstimatorOptions,
} from '../../src/crypto/password-estimator.js';

const estimators: PasswordEstimator[] = [];
afterEach(async () => {
  for (const e of estimators.splice(0)) await e.stop();
});

function make(options: Partial<PasswordEstimatorOptions> = {}): PasswordEstimator {
  const estimator = new PasswordEstimator({ l33tMaxSubstitutions: 4, ...options });
  estimators.push(estimator);
  return estimator;
}

describe('PasswordEstimator (zxcvbn in a worker thread)', () => {
  it('starts on first use and scores passwords like zxcvbn', async () => {
    const estimator = make();
    expect(estimator.running).toBe(false);
    const weak = await estimator.estimate('password123456', []);
    expect(estimator.running).toBe(true);
    expect(weak.score).toBeLessThan(3);
    expect(weak.warning).toMatch(/\S/);
    const strong = await estimator.estimate('violet tractor sings at midnight', []);
    expect(strong.score).toBeGreaterThanOrEqual(3);
    // The user's own data counts against a password.
    const personal = await estimator.estimate('margaretwhitfield', ['margaretwhitfield']);
    expect(personal.score).toBeLessThan(3);
    expect(personal.warning).toBe(personal.userInputsWarning);
  });

  it('answers concurrent estimates each with its own result', async () => {
    const estimator = make();
    const passwords = ['password123456', 'violet tractor sings at midnight', 'qwertyuiopasdf'];
    const results = await Promise.all(passwords.map((p) => estimator.estimate(p, [])));
    expect(results.map((r) => r.score >= 3)).toEqual([false, true, false]);
  });

  it('keeps the event loop free while the dictionaries load and passwords are checked', async () => {
    const estimator = make();
    const long = '4@!1|0$3'.repeat(12);
    // No timing bound (it would flake on a busy machine): the order of events proves it. Work on
    // the event loop (loading the dictionaries, then each check) would hold back a timer due in
    // 1 ms until it was done; in the worker, the loop runs that timer, and keeps ticking, while
    // the estimates are still pending.
    let ticks = 0;
    const ticker = setInterval(() => (ticks += 1), 1);
    let ticksWhenDone = -1;
    const done = Promise.all(
      Array.from({ length: 6 }, () => estimator.estimate(long, ['someone'])),
    ).then(() => (ticksWhenDone = ticks));
    const first = await Promise.race([
      new Promise<string>((resolve) => setTimeout(() => resolve('timer'), 1)),
      done.then(() => 'estimates'),
    ]);
    await done;
    clearInterval(ticker);
    expect(first).toBe('timer');
    expect(ticksWhenDone).toBeGreaterThan(1);
  });

  it('stops the worker when idle and starts it again when needed', async () => {
    const estimator = make({ idleMs: 50 });
    await estimator.estimate('password123456', []);
    expect(estimator.running).toBe(true);
    await expect.poll(() => estimator.running, { timeout: 5_000, interval: 20 }).toBe(false);
    const again = await estimator.estimate('violet tractor sings at midnight', []);
    expect(again.score).toBeGreaterThanOrEqual(3);
    expect(estimator.running).toBe(true);
  });

  it('refuses at once beyond its bound of waiting estimates, and recovers', async () => {
    const estimator = make({ maxPending: 2 });
    const first = estimator.estimate('password123456', []);
    const second = estimator.estimate('qwertyuiopasdf', []);
    await expect(estimator.estimate('iloveyou2024!', [])).rejects.toBeInstanceOf(
      EstimatorUnavailableError,
    );
    await Promise.all([first, second]);
    expect((await estimator.estimate('violet tractor sings at midnight', [])).score).toBe(4);
  });

  it('fails what it holds when the worker stops, then works again', async () => {
    const estimator = make();
    await estimator.estimate('warm up', []);
    const held = expect(
      estimator.estimate('violet tractor sings at midnight', []),
    ).rejects.toBeInstanceOf(EstimatorUnavailableError);
    await estimator.stop();
    await held;
    expect(estimator.running).toBe(false);
    expect((await estimator.estimate('password123456', [])).score).toBeLessThan(3);
  });

  it('checks worst-case passwords within its default heap limits', async () => {
    expect(ESTIMATOR_HEAP_LIMITS.maxOldGenerationSizeMb).toBeGreaterThan(0);
    const estimator = make();
    // 100 code points is what the policy analyses; these are the slowest shapes for zxcvbn.
    const worst = [
      'Yq#8zLm!kP2$'.repeat(9).slice(0, 100),
      '4@!1|0$3'.repeat(13).slice(0, 100),
      '12'.repeat(50),
      'qwertyuiopasdfghjklzxcvbnm1234567890'.repeat(3).slice(0, 100),
    ];
    for (let round = 0; round < 3; round++) {
      const results = await Promise.all(
        worst.map((password) => estimator.estimate(password, ['someone@example.com', 'Some One'])),
      );
      for (const result of results) expect(result.score).toBeGreaterThanOrEqual(0);
    }
    expect(estimator.running).toBe(true);
  });

  it('fails the checks it holds when the worker runs out of heap, and never takes the process down', async () => {
    // Far too small for the dictionaries: V8 ends the worker while it loads them.
    const estimator = make({
      heapLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 4 },
    });
    const checks = [
      estimator.estimate('violet tractor sings at midnight', []),
      estimator.estimate('password123456', []),
    ];
    for (const check of checks)
      await expect(check).rejects.toBeInstanceOf(EstimatorUnavailableError);
    expect(estimator.running).toBe(false);
    // The next check starts a new worker (which fails the same way here) instead of hanging.
    await expect(estimator.estimate('password123456', [])).rejects.toBeInstanceOf(
      EstimatorUnavailableError,
    );
  });
});
