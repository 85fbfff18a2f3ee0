import { describe, expect, it } from 'vitest';
import { validatorCompiler } from '../../src/http/validation.js';

const compile = (schema: object, httpPart = 'body') =>
  validatorCompiler({ schema, httpPart, method: 'POST', url: '/x' });

describe('validatorCompiler', () => {
  it('refuses a schema that is not valid JSON Schema, for every part', () => {
    for (const httpPart of ['body', 'querystring', 'params', 'headers']) {
      expect(() =>
        compile(
          { type: 'object', properties: { a: { type: 'string', maxLength: 'ten' } } },
          httpPart,
        ),
      ).toThrow(/schema is invalid/);
      expect(() => compile({ type: 'strin' }, httpPart)).toThrow(/schema is invalid/);
    }
  });

  it('compiles a valid one: strict bodies, coerced text parts', () => {
    const schema = {
      type: 'object',
      properties: { n: { type: 'integer' } },
      required: ['n'],
      additionalProperties: false,
    };
    const body = compile(schema, 'body') as (data: unknown) => boolean;
    const query = compile(schema, 'querystring') as (data: unknown) => boolean;
    expect(body({ n: 1 })).toBe(true);
    expect(body({ n: '1' })).toBe(false);
    expect(query({ n: '1' })).toBe(true);
    expect(body({ n: 1, extra: true })).toBe(false);
  });
});
