import { describe, expect, it } from 'vitest';
import { Type } from 'typebox';
import { buildApp } from '../../src/app.js';
import { createConfig } from '../../src/config/index.js';
import { assertStrictSchema } from '../../src/http/validation.js';
import { LogCapture, testConfigInput } from '../helpers/app.js';
import { createTestDb } from '../helpers/db.js';

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
    const testDb = await createTestDb();
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
    } finally {
      await app.close().catch(() => undefined);
    }
  });
});
