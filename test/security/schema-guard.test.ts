import { describe, expect, it } from 'vitest';
import { Type } from 'typebox';
import { buildApp } from '../../src/app.js';
import { createConfig } from '../../src/config/index.js';
import { assertStrictSchema } from '../../src/http/assert-strict-schema.js';
import { validatorCompiler } from '../../src/http/validation.js';
import * as auditSchemas from '../../src/audit/schema.js';
import * as authSchemas from '../../src/auth/schema.js';
import * as httpSchemas from '../../src/http/schema.js';
import * as oidcSchemas from '../../src/oidc/schema.js';
import * as userSchemas from '../../src/users/schema.js';
import { LogCapture, testConfigInput } from '../helpers/app.js';
import { createMigratedTestDb } from '../helpers/db.js';

describe('strict schema guard', () => {
  it.each([
    [
      'an open object',
      Type.Object({ a: Type.String({ maxLength: 5 }) }),
      /additionalProperties: false/,
    ],
    [
      'an unbounded string',
      Type.Object({ a: Type.String() }, { additionalProperties: false }),
      /\/a: string schemas must set maxLength/,
    ],
    [
      'an unbounded array',
      Type.Object({ a: Type.Array(Type.Integer()) }, { additionalProperties: false }),
      /\/a: array schemas must set maxItems/,
    ],
    [
      'an unbounded string inside a union',
      Type.Object(
        { a: Type.Union([Type.Integer(), Type.String()]) },
        { additionalProperties: false },
      ),
      /maxLength/,
    ],
    [
      'a nested open object',
      Type.Object({ a: Type.Object({ b: Type.Integer() }) }, { additionalProperties: false }),
      /\/a: object schemas must set additionalProperties: false/,
    ],
  ])('refuses %s', (_label, schema, message) => {
    expect(() => assertStrictSchema(schema, 'test')).toThrow(message);
  });

  // Shapes that accept unbounded input (findings-lib item 6): each is refused with its path and
  // what to add.
  const closed = (properties: Record<string, unknown>) => ({
    type: 'object',
    properties,
    additionalProperties: false,
  });
  const boundedKeys = { maxProperties: 20, propertyNames: { maxLength: 64 } };
  it.each([
    ['Type.Unknown()', Type.Unknown(), /^test\/: accepts any value \(Type.Unknown\(\)/],
    ['Type.Any()', Type.Any(), /^test\/: accepts any value/],
    ['the true schema', true, /^test\/: accepts any value/],
    [
      'an optional Type.Unknown() property',
      Type.Object({ a: Type.Optional(Type.Unknown()) }, { additionalProperties: false }),
      /^test\/a: accepts any value .*set a type with its bounds/,
    ],
    [
      'a Type.Record of unknown values',
      Type.Record(Type.String(), Type.Unknown()),
      /^test\/: object schemas must set additionalProperties: false .*add maxProperties, propertyNames: \{ maxLength \}, additionalProperties: false or a schema/,
    ],
    [
      'a Type.Record with unbounded keys',
      Type.Record(Type.String(), Type.Integer()),
      /add maxProperties, propertyNames: \{ maxLength \}/,
    ],
    [
      'a Type.Record keyed by integers (no key length)',
      Type.Record(Type.Integer(), Type.Integer(), {
        maxProperties: 5,
        additionalProperties: false,
      }),
      /or be bounded: add propertyNames: \{ maxLength \}$/,
    ],
    [
      'a Type.Record with maxProperties and bounded keys but unchecked other keys',
      // '^.*$' does not match a key holding a newline: such a key is an additional property.
      Type.Record(Type.String(), Type.Integer(), boundedKeys),
      /or be bounded: add additionalProperties: false or a schema for the other values$/,
    ],
    [
      'a Type.Record whose key pattern is its only bound',
      Type.Record(Type.String(), Type.Integer(), {
        maxProperties: 5,
        propertyNames: { pattern: '^[a-z]+$' },
        additionalProperties: false,
      }),
      /add propertyNames: \{ maxLength \}$/,
    ],
    [
      'an unbounded value inside a bounded Type.Record',
      Type.Record(Type.String(), Type.String(), { ...boundedKeys, additionalProperties: false }),
      /^test\/\*: string schemas must set maxLength/,
    ],
    [
      'an open additionalProperties value schema',
      { type: 'object', ...boundedKeys, additionalProperties: {} },
      /^test\/\*: accepts any value/,
    ],
    [
      '{ type: object } without properties',
      { type: 'object' },
      /^test\/: object schemas must set additionalProperties: false/,
    ],
    [
      'additionalProperties: true',
      { type: 'object', properties: {}, additionalProperties: true, ...boundedKeys },
      /add additionalProperties: false or a schema/,
    ],
    [
      'string constraints without a type',
      closed({ a: { minLength: 1 } }),
      /^test\/a: accepts any value/,
    ],
    [
      'if/then/else without a type',
      closed({ a: { if: { type: 'string' }, then: {}, else: { type: 'integer' } } }),
      /^test\/a: accepts any value/,
    ],
    ['not without a type', closed({ a: { not: { type: 'null' } } }), /^test\/a: accepts any value/],
    [
      'an unbounded string in a tuple additionalItems',
      closed({
        a: {
          type: 'array',
          maxItems: 3,
          items: [{ type: 'integer' }],
          additionalItems: { type: 'string' },
        },
      }),
      /^test\/a\/\[\]: string schemas must set maxLength/,
    ],
    [
      'a tuple whose extra items are unchecked',
      closed({ a: { type: 'array', maxItems: 3, items: [{ type: 'integer' }] } }),
      /^test\/a: tuple schemas must set additionalItems: false/,
    ],
    [
      'an unbounded string inside a tuple',
      closed({
        a: { type: 'array', maxItems: 2, items: [{ type: 'integer' }, { type: 'string' }] },
      }),
      /^test\/a\/1: string schemas must set maxLength/,
    ],
    [
      'a tuple without maxItems',
      closed({ a: Type.Tuple([Type.Integer()]) }),
      /^test\/a: array schemas must set maxItems/,
    ],
    [
      'an array without items',
      closed({ a: { type: 'array', maxItems: 3 } }),
      /^test\/a: array schemas must set items/,
    ],
    [
      'a local $ref to an unbounded string',
      { ...closed({ a: { $ref: '#/$defs/S' } }), $defs: { S: { type: 'string' } } },
      /^test\/a: string schemas must set maxLength/,
    ],
    [
      'a local $ref to an open object',
      {
        ...closed({ a: { $ref: '#/definitions/O' } }),
        definitions: { O: { type: 'object', properties: {} } },
      },
      /^test\/a: object schemas must set additionalProperties: false/,
    ],
    [
      'a $ref that does not resolve',
      closed({ a: { $ref: '#/$defs/Missing' } }),
      /^test\/a: \$ref "#\/\$defs\/Missing" does not resolve/,
    ],
    [
      'a $ref into the prototype chain',
      closed({ a: { $ref: '#/constructor' } }),
      /does not resolve/,
    ],
    [
      'a $ref cycle with an unbounded string',
      {
        $defs: {
          Node: {
            type: 'object',
            properties: {
              name: { type: 'string' },
              next: { $ref: '#/$defs/Node' },
            },
            additionalProperties: false,
          },
        },
        $ref: '#/$defs/Node',
      },
      /^test\/name: string schemas must set maxLength/,
    ],
    [
      'an unbounded branch of an untyped anyOf',
      closed({ a: { anyOf: [{ type: 'string', maxLength: 3 }, {}] } }),
      /^test\/a: accepts any value/,
    ],
    [
      'an unbounded string allowed by a type list',
      closed({ a: { type: ['integer', 'string'] } }),
      /^test\/a: string schemas must set maxLength/,
    ],
  ])('refuses %s', (_label, schema, message) => {
    expect(() => assertStrictSchema(schema, 'test')).toThrow(message);
  });

  it.each([
    [
      'a bounded Type.Record',
      Type.Record(Type.String(), Type.Integer(), { ...boundedKeys, additionalProperties: false }),
    ],
    [
      'a bounded object with a schema for its other values',
      { type: 'object', ...boundedKeys, additionalProperties: { type: 'string', maxLength: 5 } },
    ],
    [
      'a Type.Record over literal keys (a closed object)',
      Type.Record(Type.Union([Type.Literal('a'), Type.Literal('b')]), Type.Integer(), {
        additionalProperties: false,
      }),
    ],
    ['a closed empty object', Type.Object({}, { additionalProperties: false })],
    ['a Type.Tuple with maxItems', Type.Tuple([Type.Integer(), Type.Boolean()], { maxItems: 2 })],
    [
      'a tuple with bounded extra items',
      {
        type: 'array',
        maxItems: 4,
        items: [{ type: 'integer' }],
        additionalItems: { type: 'string', maxLength: 3 },
      },
    ],
    [
      'a tuple that cannot have extra items',
      { type: 'array', maxItems: 1, items: [{ type: 'integer' }] },
    ],
    ['Type.Enum without a type', Type.Enum(['a', 'b'])],
    ['a const of any type', closed({ a: { const: { x: 'y' } }, b: { const: null } })],
    [
      'an untyped anyOf of bounded branches',
      closed({ a: { anyOf: [{ type: 'string', maxLength: 3 }, { type: 'integer' }] } }),
    ],
    [
      'not, if/then/else next to a bounded type',
      closed({
        a: { type: 'string', maxLength: 5, not: { const: 'x' } },
        b: { type: 'integer', if: { minimum: 5 }, then: { maximum: 10 } },
      }),
    ],
    [
      'a local $ref to a bounded string',
      {
        ...closed({ a: { $ref: '#/$defs/S' }, b: { $ref: '#/$defs/S' } }),
        $defs: { S: { type: 'string', maxLength: 5 } },
      },
    ],
    [
      'a recursive schema whose nodes are bounded (the $ref cycle ends)',
      {
        type: 'object',
        properties: {
          name: { type: 'string', maxLength: 10 },
          children: { type: 'array', maxItems: 3, items: { $ref: '#' } },
        },
        additionalProperties: false,
      },
    ],
    ['scalars', closed({ a: Type.Null(), b: Type.Boolean(), c: Type.Number(), d: Type.Integer() })],
  ])('accepts %s', (_label, schema) => {
    expect(() => assertStrictSchema(schema, 'test')).not.toThrow();
  });

  it("accepts every request schema of Bulwark's own routes", () => {
    const schemas = {
      ...auditSchemas,
      ...authSchemas,
      ...httpSchemas,
      ...oidcSchemas,
      ...userSchemas,
    } as Record<string, unknown>;
    const request = Object.keys(schemas).filter((name) =>
      /(Params|Query|^(Register|Login|Refresh|ChangePassword|UpdateSelf|UpdateUser|CreateUser|Exchange|ForgotPassword|ResetPassword|VerifyEmail)Body)$/.test(
        name,
      ),
    );
    expect(request.length).toBeGreaterThanOrEqual(15);
    for (const name of request) expect(() => assertStrictSchema(schemas[name], name)).not.toThrow();
  });

  it('shows why a Type.Record needs additionalProperties: its key pattern misses newlines', () => {
    const loose = validatorCompiler({
      schema: Type.Record(Type.String(), Type.Integer(), boundedKeys),
      httpPart: 'body',
      method: 'POST',
      url: '/x',
    }) as (data: unknown) => boolean;
    expect(loose({ 'a\nb': 'x'.repeat(1000) })).toBe(true);
    const bounded = Type.Record(Type.String(), Type.Integer(), {
      ...boundedKeys,
      additionalProperties: false,
    });
    assertStrictSchema(bounded, 'test');
    const strict = validatorCompiler({
      schema: bounded,
      httpPart: 'body',
      method: 'POST',
      url: '/x',
    }) as (data: unknown) => boolean;
    expect(strict({ a: 1 })).toBe(true);
    expect(strict({ 'a\nb': 1 })).toBe(false);
    expect(strict({ ['k'.repeat(65)]: 1 })).toBe(false);
  });

  // The formats that count as a string's bound must bound it: RFC 3339 `date-time` and `time`
  // allow any number of fractional-second digits (ajv-formats accepts 50 000 of them), so a
  // schema of that format alone accepted strings as long as the body or URL allows.
  it('counts a format as a bound only when its grammar has a longest string', () => {
    const query = (format: string, maxLength?: number) =>
      closed({ a: { type: 'string', format, ...(maxLength === undefined ? {} : { maxLength }) } });
    for (const format of ['date-time', 'time']) {
      expect(() => assertStrictSchema(query(format), 'test'), format).toThrow(
        /^test\/a: string schemas must set maxLength/,
      );
      expect(() => assertStrictSchema(query(format, 40), 'test'), format).not.toThrow();
      const validate = validatorCompiler({
        schema: { type: 'string', format },
        httpPart: 'querystring',
        method: 'GET',
        url: '/x',
      }) as (data: unknown) => boolean;
      const long = format === 'time' ? '00:00:00.' : '2026-01-01T00:00:00.';
      expect(validate(`${long}${'1'.repeat(50_000)}Z`), format).toBe(true);
    }
    for (const format of ['uuid', 'date', 'ipv4', 'ipv6']) {
      expect(() => assertStrictSchema(query(format), 'test'), format).not.toThrow();
    }
    for (const format of ['uri', 'email']) {
      expect(() => assertStrictSchema(query(format), 'test'), format).toThrow(/maxLength/);
    }
  });

  it('keeps header objects open but checks the headers they name', () => {
    const headers = Type.Object({ 'x-a': Type.String({ maxLength: 5 }) });
    expect(() => assertStrictSchema(headers, 'test', true)).not.toThrow();
    expect(() => assertStrictSchema(headers, 'test', { allowExtraProperties: true })).not.toThrow();
    expect(() => assertStrictSchema(Type.Object({ 'x-a': Type.String() }), 'test', true)).toThrow(
      /^test\/x-a: string schemas must set maxLength/,
    );
    expect(() => assertStrictSchema(Type.Object({ 'x-a': Type.Unknown() }), 'test', true)).toThrow(
      /accepts any value/,
    );
  });

  it('accepts bounded strings, formats, enums and closed objects', () => {
    expect(() =>
      assertStrictSchema(
        Type.Object(
          {
            a: Type.String({ maxLength: 5 }),
            id: Type.String({ format: 'uuid' }),
            kind: Type.Union([Type.Literal('x'), Type.Literal('y')]),
            list: Type.Array(Type.Integer(), { maxItems: 3 }),
          },
          { additionalProperties: false },
        ),
        'test',
      ),
    ).not.toThrow();
  });

  it('stops a library user from registering a route with a loose body schema', async () => {
    const testDb = await createMigratedTestDb();
    const app = await buildApp(createConfig(testConfigInput(testDb)), { logger: new LogCapture() });
    app.addHook('onClose', () => testDb.cleanup());
    try {
      expect(() =>
        app.post(
          '/api/v1/loose',
          { schema: { body: Type.Object({ anything: Type.String() }) } },
          () => ({}),
        ),
      ).toThrow(/POST \/api\/v1\/loose body/);
      expect(() =>
        app.post('/api/v1/anything', { schema: { body: Type.Unknown() } }, () => ({})),
      ).toThrow(/^POST \/api\/v1\/anything body\/: accepts any value/);
      expect(() =>
        app.get(
          '/api/v1/anything',
          { schema: { querystring: Type.Record(Type.String(), Type.Integer()) } },
          () => ({}),
        ),
      ).toThrow(/^GET \/api\/v1\/anything querystring\/: object schemas must set/);
    } finally {
      await app.close().catch(() => undefined);
    }
  });
});
