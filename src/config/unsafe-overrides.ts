import type { Config } from './schema.js';

/** A setting that weakens a secure default, as recorded in a `config.unsafe_override` event. */
export interface UnsafeOverride {
  setting: string;
  reason: string;
}

/**
 * The weakenings a config switches on. Each is allowed (the config rules refuse only what is
 * never safe) but is logged as a warning and recorded as a security event at every start, so an
 * auditor sees when the posture changed.
 */
export function unsafeOverrides(config: Config): UnsafeOverride[] {
  const found: UnsafeOverride[] = [];
  if (config.keys.masterKey === undefined && config.keys.masterKeyFile === undefined) {
    found.push({
      setting: 'keys.masterKey',
      reason: 'unset: a generated development key file encrypts the data',
    });
  }
  if (config.cors.origins.includes('*')) {
    found.push({ setting: 'cors.origins', reason: 'any origin may call the API from a browser' });
  }
  if (!config.rateLimit.enabled) {
    found.push({
      setting: 'rateLimit.enabled',
      reason: 'no rate limits and no brute-force protection of logins',
    });
  }
  if (config.metrics.port !== undefined && config.metrics.token === undefined) {
    found.push({
      setting: 'metrics.port',
      reason: 'the metrics listener answers without a token (loopback only)',
    });
  }
  if (!config.oidc.cookieSecure && Object.keys(config.oidc.providers).length > 0) {
    found.push({
      setting: 'oidc.cookieSecure',
      reason: 'sign-in cookies are sent over plain http too',
    });
  }
  return found;
}
