export type { Config, ConfigInput, DeepPartial } from './schema.js';
export { loadConfig, createConfig, type LoadConfigOptions } from './load.js';
export { settings, describeExpected, type Setting } from './settings.js';
export { SUPPORTED_API_VERSIONS, LATEST_API_VERSION } from './api-versions.js';
export {
  JWKS_MAX_AGE_SECONDS,
  KEY_REFRESH_INTERVAL_MS,
  SAFE_KEY_PUBLISH_AHEAD_SECONDS,
} from './signing-keys.js';
