import { readFileSync, writeFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import standaloneModule from 'ajv/dist/standalone/index.js';
import { describe, expect, it } from 'vitest';
import { ConfigSchema } from '../../src/config/schema.js';
import { validateConfig } from '../../src/config/validator.js';

// Both are CommonJS with a default export; under NodeNext they arrive as the module object.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;
const standaloneCode = standaloneModule as unknown as typeof standaloneModule.default;

const GENERATED = new URL('../../src/config/config-validator.generated.cjs', import.meta.url);

/** The validator module as it must be: Ajv standalone code for the TypeBox schema. */
function generate(): string {
  const ajv = new Ajv({
    allErrors: true,
    useDefaults: true,
    coerceTypes: false,
    strict: false,
    code: { source: true },
  });
  addFormats(ajv);
  const validate = ajv.compile(ConfigSchema);
  return [
    '// Generated from src/config/schema.ts by test/config/config-validator.test.ts: do not edit.',
    '// After changing the schema: UPDATE_GENERATED=1 npx vitest run --project sqlite test/config',
    standaloneCode(ajv, validate),
    '',
  ].join('\n');
}

describe('the precompiled config validator', () => {
  it('is the one Ajv generates from src/config/schema.ts today', () => {
    const current = readFileSync(GENERATED, 'utf8');
    const expected = generate();
    if (process.env.UPDATE_GENERATED === '1' && current !== expected) {
      writeFileSync(GENERATED, expected);
      return;
    }
    expect(
      current === expected,
      'src/config/config-validator.generated.cjs is out of date: run UPDATE_GENERATED=1 npx vitest run --project sqlite test/config',
    ).toBe(true);
  });

  it('fills defaults and reports errors as Ajv does', () => {
    const empty: Record<string, unknown> = {};
    expect(validateConfig(empty)).toBe(true);
    expect((empty.server as { port: number }).port).toBe(3000);

    const bad = { server: { port: 70000 }, nope: 1 };
    expect(validateConfig(bad)).toBe(false);
    expect(validateConfig.errors).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ keyword: 'additionalProperties', instancePath: '' }),
        expect.objectContaining({ keyword: 'maximum', instancePath: '/server/port' }),
      ]),
    );
  });
});
