import { describe, expect, it } from 'vitest';
import { requestTimeoutOptions } from '../../src/http/request-timeout.js';

describe('requestTimeoutOptions', () => {
  it.each([
    [1_000, 100],
    [5_000, 500],
    [30_000, 1_000],
    [600_000, 1_000],
  ])('checks a %i ms request timeout every %i ms', (timeout, interval) => {
    expect(requestTimeoutOptions(timeout)).toEqual({
      requestTimeout: timeout,
      // Never above requestTimeout: Node would swap the two and wait for the larger one.
      headersTimeout: timeout,
      connectionsCheckingInterval: interval,
    });
  });
});
