import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Type } from 'typebox';
import { buildApp, type BulwarkApp } from '../../src/app.js';
import { createConfig } from '../../src/config/index.js';
import { LogCapture, testConfigInput } from '../helpers/app.js';
import { createTestDb } from '../helpers/db.js';

// Fastify shared schemas (app.addSchema + $ref) on a Bulwark app (findings-lib item 5): they
// compile with Bulwark's Ajv options, and the registration-time guard follows the $ref.

const Note = {
  $id: 'Note',
  type: 'object',
  properties: {
    title: { type: 'string', minLength: 1, maxLength: 10 },
    tags: { type: 'array', maxItems: 3, items: { $ref: 'Tag#' } },
  },
  required: ['title'],
  additionalProperties: false,
};
const Tag = { $id: 'Tag', type: 'string', maxLength: 8 };
const Page = {
  $id: 'Page',
  type: 'object',
  properties: { limit: { type: 'integer', minimum: 1, maximum: 50 } },
  additionalProperties: false,
};
// Recursive through its own $id: the guard's walk ends, Ajv validates each level.
const Tree = {
  $id: 'Tree',
  type: 'object',
  properties: {
    name: { type: 'string', maxLength: 10 },
    kids: { type: 'array', maxItems: 3, items: { $ref: 'Tree#' } },
  },
  required: ['name'],
  additionalProperties: false,
};
// Local $defs inside a shared schema resolve against that schema, not the route's.
const Wrapped = {
  $id: 'Wrapped',
  $defs: { Text: { type: 'string', maxLength: 4 } },
  type: 'object',
  properties: { text: { $ref: '#/$defs/Text' } },
  additionalProperties: false,
};

async function newApp(): Promise<BulwarkApp> {
  const testDb = await createTestDb();
  const app = await buildApp(createConfig(testConfigInput(testDb)), { logger: new LogCapture() });
  app.addHook('onClose', () => testDb.cleanup());
  return app;
}

describe('shared schemas (app.addSchema + $ref)', () => {
  let app: BulwarkApp;
  beforeAll(async () => {
    app = await newApp();
    app.addSchema(Tag);
    app.addSchema(Note);
    app.addSchema(Page);
    app.addSchema(Tree);
    app.addSchema(Wrapped);
    const echo = (request: { body: unknown; query: unknown }) => ({
      body: request.body ?? null,
      query: request.query,
    });
    app.post('/api/v1/notes', { schema: { body: { $ref: 'Note#' } } }, echo);
    app.get('/api/v1/notes', { schema: { querystring: { $ref: 'Page#' } } }, echo);
    app.post('/api/v1/trees', { schema: { body: { $ref: 'Tree#' } } }, echo);
    app.post('/api/v1/wrapped', { schema: { body: { $ref: 'Wrapped#' } } }, echo);
    app.post(
      '/api/v1/titles',
      {
        schema: {
          body: {
            type: 'object',
            properties: { title: { $ref: 'Note#/properties/title' } },
            additionalProperties: false,
          },
        },
      },
      echo,
    );
    await app.register((child, _opts, done) => {
      child.addSchema({ $id: 'Child', type: 'integer', maximum: 5 });
      child.post(
        '/api/v1/child',
        {
          schema: {
            body: {
              type: 'object',
              properties: { n: { $ref: 'Child#' }, note: { $ref: 'Note#' } },
              additionalProperties: false,
            },
          },
        },
        echo,
      );
      done();
    });
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
  });

  const post = (url: string, payload: unknown) =>
    app.inject({ method: 'POST', url: `/api/v1/${url}`, payload: payload as object });

  it('validates a body through $ref, with nested $refs', async () => {
    const ok = await post('notes', { title: 'hello', tags: ['a', 'b'] });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ body: { title: 'hello', tags: ['a', 'b'] } });

    const long = await post('notes', { title: 'x'.repeat(11), tags: ['y'.repeat(9)] });
    expect(long.statusCode).toBe(400);
    expect(long.json()).toMatchObject({ code: 'validation_failed' });
    const paths = long.json<{ errors: { path: string }[] }>().errors.map((e) => e.path);
    expect(paths).toEqual(expect.arrayContaining(['/body/title', '/body/tags/0']));

    const extra = await post('notes', { title: 'a', admin: true });
    expect(extra.statusCode).toBe(400);
    expect(extra.json()).toMatchObject({ errors: [{ path: '/body/admin' }] });
  });

  it('keeps bodies uncoerced and coerces query strings, as for inline schemas', async () => {
    expect((await post('notes', { title: 12 })).statusCode).toBe(400);
    const query = await app.inject({ method: 'GET', url: '/api/v1/notes?limit=7' });
    expect(query.statusCode).toBe(200);
    expect(query.json()).toMatchObject({ query: { limit: 7 } });
    expect((await app.inject({ method: 'GET', url: '/api/v1/notes?limit=99' })).statusCode).toBe(
      400,
    );
    expect((await app.inject({ method: 'GET', url: '/api/v1/notes?other=1' })).statusCode).toBe(
      400,
    );
  });

  it('follows a recursive shared schema', async () => {
    const tree = { name: 'root', kids: [{ name: 'a', kids: [{ name: 'b' }] }] };
    expect((await post('trees', tree)).statusCode).toBe(200);
    const deep = { name: 'root', kids: [{ name: 'a', kids: [{ name: 'x'.repeat(11) }] }] };
    expect((await post('trees', deep)).statusCode).toBe(400);
  });

  it("resolves a shared schema's local $defs and a pointer into a shared schema", async () => {
    expect((await post('wrapped', { text: 'abcd' })).statusCode).toBe(200);
    expect((await post('wrapped', { text: 'abcde' })).statusCode).toBe(400);
    expect((await post('titles', { title: 'x'.repeat(10) })).statusCode).toBe(200);
    expect((await post('titles', { title: 'x'.repeat(11) })).statusCode).toBe(400);
  });

  it("sees a child plugin's shared schemas and its parent's", async () => {
    expect((await post('child', { n: 5, note: { title: 'a' } })).statusCode).toBe(200);
    expect((await post('child', { n: 6 })).statusCode).toBe(400);
    expect((await post('child', { note: { title: 'a', x: 1 } })).statusCode).toBe(400);
  });

  it('lists the routes in the OpenAPI document', async () => {
    const res = await app.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    expect(Object.keys(res.json<{ paths: object }>().paths)).toEqual(
      expect.arrayContaining(['/api/v1/notes', '/api/v1/trees']),
    );
  });
});

describe('the strict-schema guard through shared schemas', () => {
  let app: BulwarkApp;
  beforeAll(async () => {
    app = await newApp();
    app.addSchema({ $id: 'LooseString', type: 'string' });
    app.addSchema({
      $id: 'OpenObject',
      type: 'object',
      properties: { a: { type: 'string', maxLength: 5 } },
    });
    app.addSchema({ $id: 'AnyValue' });
    app.addSchema({
      $id: 'LooseDefs',
      $defs: { Text: { type: 'string' } },
      type: 'object',
      properties: { text: { $ref: '#/$defs/Text' } },
      additionalProperties: false,
    });
    app.addSchema({ $id: 'Record', ...Type.Record(Type.String(), Type.Integer()) });
  });
  afterAll(async () => {
    await app.close();
  });

  it.each([
    [
      'body',
      { $ref: 'LooseString#' },
      /^POST \/api\/v1\/r body\/: string schemas must set maxLength/,
    ],
    [
      'body',
      { $ref: 'OpenObject#' },
      /body\/: object schemas must set additionalProperties: false/,
    ],
    ['body', { $ref: 'AnyValue' }, /body\/: accepts any value/],
    ['body', { $ref: 'LooseDefs#' }, /body\/text: string schemas must set maxLength/],
    ['body', { $ref: 'Record#' }, /body\/: object schemas must set .*maxProperties/],
    [
      'body',
      Type.Object({ a: Type.Unsafe({ $ref: 'LooseString#' }) }, { additionalProperties: false }),
      /body\/a: string schemas must set maxLength/,
    ],
    ['querystring', { $ref: 'OpenObject#' }, /querystring\/: object schemas must set/],
    [
      'params',
      Type.Object({ id: Type.Unsafe({ $ref: 'LooseString#' }) }, { additionalProperties: false }),
      /params\/id: string schemas must set maxLength/,
    ],
    [
      'headers',
      Type.Object({ 'x-a': Type.Unsafe({ $ref: 'LooseString#' }) }),
      /headers\/x-a: string schemas must set maxLength/,
    ],
    ['body', { $ref: 'Missing#' }, /body\/: \$ref "Missing#" does not resolve/],
    ['body', { $ref: 'OpenObject#/properties/b' }, /does not resolve/],
  ])('refuses a %s whose $ref reaches a loose schema: %j', (part, schema, message) => {
    expect(() =>
      app.post(
        part === 'params' ? '/api/v1/r/:id' : '/api/v1/r',
        { schema: { [part]: schema } },
        () => ({}),
      ),
    ).toThrow(message);
  });
});
