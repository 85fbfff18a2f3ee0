import { describe, expect, it } from 'vitest';
import { EventCoalescer } from '../../src/audit/event-coalescer.js';
import type { RecordedSecurityEvent } from '../../src/security-events.js';

const WINDOW = 60_000;

function refusal(
  time: number,
  overrides: Partial<RecordedSecurityEvent> = {},
): RecordedSecurityEvent {
  return {
    type: 'rate_limit.exceeded',
    outcome: 'denied',
    ip: '192.0.2.1',
    actorId: null,
    requestId: `r-${time}`,
    details: { policy: 'general', scope: 'client', route: '/x', retryAfterSeconds: 30 },
    time,
    ...overrides,
  };
}

describe('EventCoalescer', () => {
  it('stores the first refusal at once and one summary of its repeats when the window ends', () => {
    const c = new EventCoalescer({ windowMs: WINDOW, maxKeys: 100 });
    expect(c.admit(refusal(1_000))).toEqual([refusal(1_000)]);
    for (let i = 1; i <= 499; i++) {
      // The retry delay differs from one refusal to the next: still the same refusal.
      expect(
        c.admit(
          refusal(1_000 + i * 10, {
            details: {
              policy: 'general',
              scope: 'client',
              route: '/x',
              retryAfterSeconds: 30 - (i % 30),
            },
          }),
        ),
      ).toEqual([]);
    }
    expect(c.due(60_999)).toEqual([]);
    const [summary, ...rest] = c.due(61_000);
    expect(rest).toEqual([]);
    expect(summary).toMatchObject({
      type: 'rate_limit.exceeded',
      outcome: 'denied',
      ip: '192.0.2.1',
      requestId: 'r-5990',
      time: 5_990,
      details: { policy: 'general', scope: 'client', route: '/x', repeats: 499, windowSeconds: 60 },
    });
    expect(c.size).toBe(0);
    // A new window starts with a stored event again.
    expect(c.admit(refusal(70_000))).toEqual([refusal(70_000)]);
  });

  it('writes no summary for a refusal that was not repeated', () => {
    const c = new EventCoalescer({ windowMs: WINDOW, maxKeys: 100 });
    c.admit(refusal(0));
    expect(c.due(Number.POSITIVE_INFINITY)).toEqual([]);
  });

  it('summarises the ended window when the next refusal opens a new one', () => {
    const c = new EventCoalescer({ windowMs: WINDOW, maxKeys: 100 });
    c.admit(refusal(0));
    c.admit(refusal(10));
    c.admit(refusal(20));
    const out = c.admit(refusal(WINDOW));
    expect(out.map((e) => [e.time, e.details?.repeats])).toEqual([
      [20, 2],
      [WINDOW, undefined],
    ]);
  });

  it('keeps refusals of other clients, users, policies and outcomes apart', () => {
    const c = new EventCoalescer({ windowMs: WINDOW, maxKeys: 100 });
    const variants = [
      refusal(0),
      refusal(0, { ip: '192.0.2.2' }),
      refusal(0, { actorId: 'u1' }),
      refusal(0, {
        details: { policy: 'auth', scope: 'client', route: '/x', retryAfterSeconds: 1 },
      }),
      refusal(0, {
        details: { policy: 'general', scope: 'client', route: '/y', retryAfterSeconds: 1 },
      }),
    ];
    for (const event of variants) expect(c.admit(event)).toEqual([event]);
    expect(c.size).toBe(5);
  });

  it('passes every other event type through, one by one', () => {
    const c = new EventCoalescer({ windowMs: WINDOW, maxKeys: 100 });
    const failed: RecordedSecurityEvent = {
      type: 'login.failed',
      outcome: 'failure',
      ip: '192.0.2.1',
      time: 0,
    };
    for (let i = 0; i < 3; i++) expect(c.admit(failed)).toEqual([failed]);
    expect(c.size).toBe(0);
  });

  it('stays within maxKeys by summarising the oldest window early', () => {
    const c = new EventCoalescer({ windowMs: WINDOW, maxKeys: 2 });
    c.admit(refusal(0, { ip: '192.0.2.1' }));
    c.admit(refusal(1, { ip: '192.0.2.1' }));
    c.admit(refusal(2, { ip: '192.0.2.2' }));
    const out = c.admit(refusal(3, { ip: '192.0.2.3' }));
    expect(out.map((e) => [e.ip, e.details?.repeats])).toEqual([
      ['192.0.2.1', 1],
      ['192.0.2.3', undefined],
    ]);
    expect(c.size).toBe(2);
  });
});
