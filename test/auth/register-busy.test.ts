import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { STRONG_PASSWORD } from '../helpers/identity.js';
import { expectProblem, register } from './support.js';

// Its own file: the password estimator's worker is per module instance, so here it starts cold
// and the first answers take the dictionary load (hundreds of ms) while the burst queues.
let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp();
});
afterAll(async () => {
  await t.app.close();
});

describe('registration while too many password checks wait', () => {
  it('answers 503 service_unavailable beyond the bound, registers the rest, and recovers', async () => {
    const inputs = Array.from({ length: 90 }, (_, i) => ({
      email: `burst-${i}-${randomUUID()}@example.com`,
      password: STRONG_PASSWORD,
      name: 'Burst User',
    }));
    const burst = await Promise.all(inputs.map((input) => register(t.app, input)));
    const statuses = burst.map((res) => res.statusCode);
    // Nothing else: no 500, no lost request.
    expect(
      statuses.every((s) => s === 201 || s === 503),
      statuses.join(','),
    ).toBe(true);
    const refused = burst.filter((res) => res.statusCode === 503);
    expect(refused.length).toBeGreaterThan(0);
    expect(burst.filter((res) => res.statusCode === 201).length).toBeGreaterThanOrEqual(64);
    const body = expectProblem(refused[0]!, 503, 'service_unavailable');
    expect(body.detail).toBe('Passwords cannot be checked right now. Try again shortly.');
    // The refused address was not taken: the same registration goes through once it is quiet.
    const again = await register(t.app, inputs[burst.indexOf(refused[0]!)]!);
    expect(again.statusCode, again.body).toBe(201);
  });
});
