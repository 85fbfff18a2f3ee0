import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { ConfigSchema } from '../../src/config/schema.js';

describe('the config schema', () => {
  // load.ts compiles it without validating it against the meta-schema (a start-up cost): here.
  it('is a valid JSON Schema', () => {
    const ajv = new Ajv({ strict: false });
    expect(ajv.validateSchema(ConfigSchema), JSON.stringify(ajv.errors)).toBe(true);
  });
});
