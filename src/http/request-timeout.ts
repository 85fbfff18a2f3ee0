/** The Node server options that make `requestTimeoutMs` hold (see requestTimeoutOptions). */
export interface RequestTimeoutOptions {
  requestTimeout: number;
  headersTimeout: number;
  connectionsCheckingInterval: number;
}

/**
 * Node server options under which a request that is not fully received within
 * `requestTimeoutMs` gets its 408 close to that time (slowloris protection). Two Node details
 * stretched the bound to 60-90 s:
 * - Expiry is checked only every `connectionsCheckingInterval` (30 s by default). A tenth of the
 *   timeout, between 100 ms and 1 s, keeps the overrun small for one scan of the connection list
 *   per tick.
 * - When `headersTimeout` (60 s unless given to the constructor) exceeds `requestTimeout`, Node
 *   swaps the two, so a stalled body waited for the 60 s. Both are set to the one bound.
 * @see https://nodejs.org/api/http.html#httpcreateserveroptions-requestlistener
 */
export function requestTimeoutOptions(requestTimeoutMs: number): RequestTimeoutOptions {
  return {
    requestTimeout: requestTimeoutMs,
    headersTimeout: requestTimeoutMs,
    connectionsCheckingInterval: Math.min(1_000, Math.max(100, Math.floor(requestTimeoutMs / 10))),
  };
}
