/** Bulwark as a library: build the service, or use its parts as Fastify plugins. */
export { buildApp, type BuildAppOptions, type BulwarkApp } from './app.js';
export type { Services } from './services.js';
export { requireAuth, type AuthContext } from './access/authenticate.js';
export {
  DecryptionError,
  FieldCipher,
  type DecryptionFailure,
  type FieldContext,
} from './crypto/field-cipher.js';
export type { Keyring } from './crypto/keyring.js';
export { startServer, runServer, type StartOptions, type RunningServer } from './server.js';
export { loadConfig, createConfig, type Config, type ConfigInput } from './config/index.js';
export { ConfigSchema } from './config/schema.js';
export {
  AppError,
  ConfigError,
  errorCatalog,
  isAppError,
  type ErrorCode,
  type FieldError,
} from './errors.js';
export { problemFor, problemType, sendProblem, type Problem } from './http/error-handler.js';
export { assertStrictSchema, type StrictSchemaOptions } from './http/assert-strict-schema.js';
export { API_SECURITY_HEADERS, hstsValue } from './http/security-headers.js';
export { readTlsCredentials, TLS_CIPHERS, type TlsCredentials } from './http/tls.js';
export { createRedirectServer, redirectLocation } from './http/https-redirect.js';
export {
  assertProductionPosture,
  checklistRows,
  evaluatePosture,
  POSTURE_CHECKS,
  type ChecklistRow,
  type Finding,
  type PostureCheck,
  type PostureStatus,
} from './posture/index.js';
export { redactSecrets } from './http/logger.js';
export type { ReadinessCheck } from './http/health.js';
export {
  rateLimiting,
  rateLimitHeaders,
  clientKey,
  RateLimits,
  type PolicySpec,
  type RateLimitingOptions,
  type RateLimitPolicyName,
} from './rate-limit/index.js';
export {
  createSharedStore,
  MemoryStore,
  type CounterSpec,
  type SharedStore,
  type StoreHealth,
} from './store/index.js';
export { RedisStore } from './store/redis-store.js';
export {
  runScan,
  SCAN_DEFAULTS,
  ScanAbortedError,
  TargetUnreachableError,
} from './scan/scanner.js';
export { renderJson, renderText, scanLines, summarize, type ScanLine } from './scan/report.js';
export type { ScanFinding, ScanOptions, ScanReport, ScanStatus } from './scan/types.js';
export {
  inspectJwt,
  InspectInputError,
  type InspectFinding,
  type InspectOptions,
  type InspectResult,
  type InspectStatus,
  type KeyMaterial,
} from './tools/jwt-inspect.js';
