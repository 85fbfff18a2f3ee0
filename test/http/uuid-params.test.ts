import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalUuid, canonicalizeUuidFields } from '../../src/http/uuid-params.js';
import { validatorCompiler } from '../../src/http/validation.js';

const ID = '0190f2a4-7b3c-7d1e-9f00-a1b2c3d4e5f6';
const UPPER = ID.toUpperCase();

let app: FastifyInstance;
const seenByRoutePreHandler: unknown[] = [];

beforeAll(async () => {
  app = Fastify();
  app.setValidatorCompiler(validatorCompiler);
  app.addHook('onRoute', canonicalizeUuidFields);
  const uuid = { type: 'string', format: 'uuid' } as const;
  app.post(
    '/things/:id',
    {
      schema: {
        params: { type: 'object', properties: { id: uuid }, required: ['id'] },
        querystring: {
          type: 'object',
          properties: { owner: uuid, label: { type: 'string', maxLength: 64 } },
        },
        body: {
          type: 'object',
          properties: {
            parent: { anyOf: [uuid, { type: 'null' }] },
            note: { type: 'string', maxLength: 64 },
          },
        },
      },
      // A route's own preHandler sees the canonical values too.
      preHandler: (request, _reply, done) => {
        seenByRoutePreHandler.push((request.params as { id: string }).id);
        done();
      },
    },
    (request) => ({ params: request.params, query: request.query, body: request.body }),
  );
  app.post(
    '/batch',
    {
      schema: {
        body: {
          type: 'object',
          properties: {
            ids: { type: 'array', items: uuid, maxItems: 10 },
            pair: { type: 'array', prefixItems: [uuid, { type: 'string', maxLength: 64 }] },
            owner: {
              type: 'object',
              properties: { id: uuid, label: { type: 'string', maxLength: 64 } },
            },
            byName: { type: 'object', additionalProperties: uuid, maxProperties: 10 },
            either: { anyOf: [uuid, { type: 'string', maxLength: 64 }] },
          },
        },
      },
    },
    (request) => request.body,
  );
  app.get('/plain/:name', (request) => request.params);
  await app.ready();
});
afterAll(async () => {
  await app.close();
});

describe('canonicalUuid', () => {
  it('lower-cases and drops the urn:uuid: prefix the uuid format accepts', () => {
    expect(canonicalUuid(UPPER)).toBe(ID);
    expect(canonicalUuid(ID)).toBe(ID);
    expect(canonicalUuid(`urn:uuid:${ID}`)).toBe(ID);
    expect(canonicalUuid(`URN:UUID:${UPPER}`)).toBe(ID);
  });
});

describe('canonicalizeUuidFields', () => {
  it('rewrites every uuid field of params, querystring and body after validation', async () => {
    const res = await app.inject({
      method: 'POST',
      url: `/things/${UPPER}?owner=urn:uuid:${UPPER}&label=KEEP-Case`,
      payload: { parent: UPPER, note: 'Also KEPT' },
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({
      params: { id: ID },
      query: { owner: ID, label: 'KEEP-Case' },
      body: { parent: ID, note: 'Also KEPT' },
    });
    expect(seenByRoutePreHandler.at(-1)).toBe(ID);
  });

  it('rewrites uuids nested in arrays, tuples, objects, maps and unions', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/batch',
      payload: {
        ids: [UPPER, `urn:uuid:${UPPER}`],
        pair: [UPPER, UPPER],
        owner: { id: UPPER, label: 'KEEP' },
        byName: { Alice: UPPER },
        either: UPPER,
      },
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({
      ids: [ID, ID],
      // The second item is a free string: kept as sent, even though it looks like a uuid.
      pair: [ID, UPPER],
      owner: { id: ID, label: 'KEEP' },
      byName: { Alice: ID },
      either: ID,
    });
    // A string that matched the other branch of the union is not a uuid: kept as sent.
    const other = await app.inject({ method: 'POST', url: '/batch', payload: { either: 'Free' } });
    expect(other.json()).toEqual({ either: 'Free' });
  });

  it('leaves a null in a nullable uuid field alone', async () => {
    const res = await app.inject({
      method: 'POST',
      url: `/things/${ID}`,
      payload: { parent: null },
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json<{ body: unknown }>().body).toEqual({ parent: null });
  });

  it('still refuses what is not a uuid (validation runs first)', async () => {
    const res = await app.inject({ method: 'POST', url: '/things/NOT-A-UUID', payload: {} });
    expect(res.statusCode).toBe(400);
  });

  it('adds nothing to routes without uuid fields', async () => {
    const res = await app.inject({ method: 'GET', url: `/plain/${UPPER}` });
    expect(res.json()).toEqual({ name: UPPER });
    expect(app.hasRoute({ method: 'GET', url: '/plain/:name' })).toBe(true);
  });
});
