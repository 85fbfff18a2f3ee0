import type { RecordedSecurityEvent, SecurityEventType } from '../security-events.js';

/**
 * Event types that a client can cause at the rate it sends requests, for free: once a client is
 * over its limit, every further request is refused cheaply, and each refusal is an event. Written
 * one row each, a flood of refused requests would grow the audit table without bound (a disk
 * exhaustion attack on the one record that must survive). Every other type is bounded by a rate
 * limit, or needs a valid session.
 */
export const COALESCED_EVENT_TYPES: ReadonlySet<SecurityEventType> = new Set([
  'rate_limit.exceeded',
]);

export interface EventCoalescerOptions {
  /** How long repeats of an event are counted instead of written, in ms. */
  windowMs: number;
  /** Distinct repeating events tracked at once; beyond it the oldest is summarised early. */
  maxKeys: number;
}

interface Window {
  /** When the counting ends (the first event's time + windowMs). */
  until: number;
  /** Repeats counted since the first event, and the latest of them. */
  repeats: number;
  last: RecordedSecurityEvent | undefined;
}

/**
 * Turns a burst of identical refusals into two audit rows: the first one, written as it comes,
 * and at the end of the window one summary (the last repeat, with `details.repeats`: how many
 * events it stands for, and `details.windowSeconds`). "Identical" is the same type, outcome,
 * client address, actor and details other than the retry delay. The log and the metrics still
 * see every event; only what is stored is coalesced.
 */
export class EventCoalescer {
  private readonly windows = new Map<string, Window>();

  constructor(private readonly options: EventCoalescerOptions) {}

  /** The events to store now for `event`: itself, summaries of windows it pushed out, or none. */
  admit(event: RecordedSecurityEvent): RecordedSecurityEvent[] {
    if (!COALESCED_EVENT_TYPES.has(event.type)) return [event];
    const key = keyOf(event);
    const open = this.windows.get(key);
    if (open !== undefined && event.time < open.until) {
      open.repeats += 1;
      open.last = event;
      return [];
    }
    const out: RecordedSecurityEvent[] = [];
    if (open !== undefined) {
      this.windows.delete(key);
      const summary = summaryOf(open, this.options.windowMs);
      if (summary) out.push(summary);
    } else if (this.windows.size >= this.options.maxKeys) {
      // Map order is insertion order: the oldest window is summarised early to make room.
      const [oldestKey, oldest] = this.windows.entries().next().value as [string, Window];
      this.windows.delete(oldestKey);
      const summary = summaryOf(oldest, this.options.windowMs);
      if (summary) out.push(summary);
    }
    this.windows.set(key, {
      until: event.time + this.options.windowMs,
      repeats: 0,
      last: undefined,
    });
    out.push(event);
    return out;
  }

  /** Summaries of the windows that ended by `now` (every window when `now` is Infinity). */
  due(now: number): RecordedSecurityEvent[] {
    const out: RecordedSecurityEvent[] = [];
    for (const [key, window] of this.windows) {
      if (window.until > now) continue;
      this.windows.delete(key);
      const summary = summaryOf(window, this.options.windowMs);
      if (summary) out.push(summary);
    }
    return out;
  }

  /** Windows being counted (for tests and metrics). */
  get size(): number {
    return this.windows.size;
  }
}

function keyOf(event: RecordedSecurityEvent): string {
  const { retryAfterSeconds: _retry, ...details } = event.details ?? {};
  return JSON.stringify([
    event.type,
    event.outcome,
    event.ip ?? null,
    event.actorId ?? null,
    event.target ?? null,
    Object.entries(details).sort(([a], [b]) => (a < b ? -1 : 1)),
  ]);
}

function summaryOf(window: Window, windowMs: number): RecordedSecurityEvent | undefined {
  if (window.repeats === 0 || window.last === undefined) return undefined;
  return {
    ...window.last,
    details: {
      ...window.last.details,
      repeats: window.repeats,
      windowSeconds: Math.round(windowMs / 1000),
    },
  };
}
