import { describe, expect, it } from 'vitest';
import { buildValidator, fieldErrors, validatorCompiler } from '../../src/http/validation.js';

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

  // Fastify hands the compiler a fresh copy of each route's schema: kept by content, a schema
  // that many routes share is compiled once (start-up time, issue #8).
  it('compiles a schema once per part, whatever copy of it comes, and tells contents apart', () => {
    const schema = () => ({
      type: 'object',
      properties: { n: { type: 'integer', maximum: 9 } },
      additionalProperties: false,
    });
    expect(compile(schema(), 'body')).toBe(compile(schema(), 'body'));
    expect(compile(schema(), 'querystring')).toBe(compile(schema(), 'params'));
    expect(compile(schema(), 'body')).not.toBe(compile(schema(), 'querystring'));
    const other = compile({ ...schema(), properties: { n: { type: 'integer', maximum: 8 } } });
    expect(other).not.toBe(compile(schema(), 'body'));
    expect((other as (data: unknown) => boolean)({ n: 9 })).toBe(false);
    expect((compile(schema(), 'body') as (data: unknown) => boolean)({ n: 9 })).toBe(true);
    // A malformed schema is refused on every call, not remembered as compiled.
    for (let i = 0; i < 2; i++) {
      expect(() => compile({ type: 'object', maxProperties: -1 })).toThrow(/schema is invalid/);
    }
  });
});

describe('buildValidator (Fastify compilersFactory)', () => {
  const shared = {
    Count: {
      $id: 'Count',
      type: 'object',
      properties: { n: { type: 'integer' } },
      additionalProperties: false,
    },
  };

  it('reuses the shared compiler when a context has no shared schemas', () => {
    expect(buildValidator({})).toBe(validatorCompiler);
    expect(buildValidator(undefined)).toBe(validatorCompiler);
  });

  it('compiles $refs to shared schemas with the same options: strict bodies, coerced text', () => {
    const compiler = buildValidator(shared);
    expect(compiler).not.toBe(validatorCompiler);
    const body = compiler({ schema: { $ref: 'Count#' }, httpPart: 'body' });
    const query = compiler({ schema: { $ref: 'Count#' }, httpPart: 'querystring' });
    expect(body({ n: 1 })).toBe(true);
    expect(body({ n: '1' })).toBe(false);
    expect(body({ n: 1, extra: true })).toBe(false);
    expect(query({ n: '1' })).toBe(true);
    const dated = compiler({
      schema: { type: 'string', format: 'date-time', maxLength: 40 },
      httpPart: 'body',
    });
    expect(dated('2024-01-01T00:00:00Z')).toBe(true);
    expect(dated('yesterday')).toBe(false);
  });

  it('refuses a shared schema that is not valid JSON Schema', () => {
    expect(() => buildValidator({ Bad: { $id: 'Bad', type: 'strin' } })).toThrow(
      /shared schema Bad is invalid/,
    );
  });

  it('leaves the module compiler without the shared schemas', () => {
    buildValidator(shared);
    expect(() => compile({ $ref: 'Count#' })).toThrow(/can't resolve reference/);
  });
});

describe('fieldErrors of a failed union (Type.Union compiles to anyOf)', () => {
  const errorsOf = (schema: object, value: unknown) => {
    const validate = compile({
      type: 'object',
      properties: { v: schema },
      additionalProperties: false,
    });
    expect(validate({ v: value })).toBe(false);
    return fieldErrors('body', validate.errors ?? []);
  };

  it('lists the allowed values once instead of one "must be equal to constant" per branch', () => {
    const literals = {
      anyOf: ['login.failed', 'login.succeeded', 'mfa.enabled'].map((c) => ({ const: c })),
    };
    expect(errorsOf(literals, 'nope')).toEqual([
      { path: '/body/v', message: 'must be one of login.failed, login.succeeded, mfa.enabled' },
    ]);
    expect(errorsOf({ oneOf: [{ enum: ['a', 'b'] }, { const: 3 }] }, 'x')).toEqual([
      { path: '/body/v', message: 'must be one of a, b, 3' },
    ]);
  });

  it("answers the matching branch's own complaint, not the other branches' types", () => {
    const phone = { anyOf: [{ type: 'string', minLength: 7, maxLength: 32 }, { type: 'null' }] };
    expect(errorsOf(phone, 'abc')).toEqual([
      { path: '/body/v', message: 'must NOT have fewer than 7 characters' },
    ]);
  });

  it('names the types a value of no branch type may have', () => {
    const phone = { anyOf: [{ type: 'string', maxLength: 32 }, { type: 'null' }] };
    expect(errorsOf(phone, 12)).toEqual([{ path: '/body/v', message: 'must be string or null' }]);
    expect(errorsOf({ anyOf: [{ const: 'on' }, { type: 'null' }] }, 'off')).toEqual([
      { path: '/body/v', message: 'must be one of on (or null)' },
    ]);
  });

  it('keeps the errors of branches that are objects, at their own paths', () => {
    const shape = {
      anyOf: [
        {
          type: 'object',
          properties: { n: { type: 'integer' } },
          required: ['n'],
          additionalProperties: false,
        },
        { type: 'null' },
      ],
    };
    expect(errorsOf(shape, { m: 1 })).toEqual([
      { path: '/body/v/n', message: 'is required' },
      { path: '/body/v/m', message: 'is not allowed' },
    ]);
  });
});

// docs/security.md, the pipeline table: "A part with more than 1,000 values is checked up to its
// first error only (no error per value)".
describe('the bound on listed problems', () => {
  const validate = compile({
    type: 'array',
    items: { type: 'integer' },
    maxItems: 5_000,
  }) as ((data: unknown) => boolean) & { errors?: unknown[] | null };

  it('lists every problem of a part of 1,000 values, only the first of one of 1,001', () => {
    expect(validate(Array.from({ length: 1_000 }, () => 'x'))).toBe(false);
    expect(validate.errors).toHaveLength(1_000);
    expect(validate(Array.from({ length: 1_001 }, () => 'x'))).toBe(false);
    expect(validate.errors).toHaveLength(1);
  });
});
