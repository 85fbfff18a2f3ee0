/** How long verifiers may cache `GET /.well-known/jwks.json`: its `Cache-Control` max-age. */
export const JWKS_MAX_AGE_SECONDS = 300;

/** How often every instance re-reads the signing keys (rotations made elsewhere). */
export const KEY_REFRESH_INTERVAL_MS = 60_000;

/**
 * The shortest `tokens.keyPublishAheadSeconds` with which no verifier meets a token whose key it
 * has not seen: a JWKS cached for its max-age, fetched from an instance that had not re-read the
 * keys yet.
 */
export const SAFE_KEY_PUBLISH_AHEAD_SECONDS = JWKS_MAX_AGE_SECONDS + KEY_REFRESH_INTERVAL_MS / 1000;
