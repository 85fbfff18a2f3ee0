import { createRequire } from 'node:module';
import type { ErrorObject } from 'ajv';
import type { Config } from './schema.js';

/** Validates in place, filling defaults; on failure the errors are in `errors`. */
export interface ConfigValidator {
  (data: unknown): data is Config;
  errors?: ErrorObject[] | null;
}

/*
 * The configuration validator, compiled ahead of time by Ajv's standalone code generation
 * (config-validator.generated.cjs, CommonJS because that is what Ajv emits). Loading config this
 * way needs no Ajv compile (~100 ms) at start, which every `bulwark` command and every server
 * start paid before. test/config/config-validator.test.ts regenerates it from
 * src/config/schema.ts and fails when the committed file differs (UPDATE_GENERATED=1 rewrites it).
 */
export const validateConfig = createRequire(import.meta.url)(
  './config-validator.generated.cjs',
) as ConfigValidator;
