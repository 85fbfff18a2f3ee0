export type { Config, ConfigInput, DeepPartial } from './schema.js';
export { loadConfig, createConfig, type LoadConfigOptions } from './load.js';
export { settings, describeExpected, type Setting } from './settings.js';
export { SUPPORTED_API_VERSIONS, LATEST_API_VERSION } from './api-versions.js';
