import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { buildSerializer } from '../../src/http/serialization.js';

const route = (schema: unknown, httpStatus = '200') => ({
  schema,
  method: 'GET',
  url: '/x',
  httpStatus,
});

describe('buildSerializer (Fastify compilersFactory)', () => {
  const user = () => ({
    type: 'object',
    properties: { id: { type: 'string' }, name: { type: 'string' } },
    required: ['id'],
  });

  it('builds a response schema once per context, whatever copy of it comes', () => {
    const compile = buildSerializer(undefined, {});
    const first = compile(route(user()));
    expect(compile(route(user(), '201'))).toBe(first);
    // Only what the schema names goes out: a field it does not list is never serialised.
    expect(first({ id: 'u1', name: 'Ann', passwordHash: 'secret' })).toBe(
      '{"id":"u1","name":"Ann"}',
    );
    const other = compile(route({ type: 'object', properties: { id: { type: 'string' } } }));
    expect(other).not.toBe(first);
    expect(other({ id: 'u1', name: 'Ann' })).toBe('{"id":"u1"}');
    // Another context (other shared schemas) builds its own.
    expect(buildSerializer(undefined, {})(route(user()))).not.toBe(first);
  });

  it("resolves $refs to the context's shared schemas", () => {
    const shared = { Named: { $id: 'Named', ...user() } };
    const compile = buildSerializer(shared, {});
    expect(compile(route({ $ref: 'Named#' }))({ id: 'u2', extra: 1 })).toBe('{"id":"u2"}');
  });

  it('serialises the responses of routes that share a schema, in a real app', async () => {
    const app = Fastify({ schemaController: { compilersFactory: { buildSerializer } } });
    for (const path of ['/a', '/b']) {
      app.get(path, { schema: { response: { 200: user() } } }, () => ({
        id: path,
        name: 'N',
        secret: 'never sent',
      }));
    }
    try {
      for (const path of ['/a', '/b']) {
        const res = await app.inject({ method: 'GET', url: path });
        expect(res.body).toBe(`{"id":"${path}","name":"N"}`);
      }
    } finally {
      await app.close();
    }
  });
});
