import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  describeApi,
  findLoginRoute,
  findProtectedRoute,
  sampleValue,
  serverPrefix,
} from '../../src/scan/discovery.js';
import { decodeJwt, forgeTokens } from '../../src/scan/jwt-forge.js';

const doc = {
  openapi: '3.1.0',
  components: {
    securitySchemes: {
      bearer: { type: 'http', scheme: 'Bearer' },
      key: { type: 'apiKey', in: 'header', name: 'x-key' },
    },
    schemas: {
      Login: {
        type: 'object',
        required: ['email', 'password', 'remember'],
        properties: {
          email: { type: 'string', format: 'email', maxLength: 254 },
          password: { type: 'string', minLength: 40, maxLength: 128 },
          remember: { type: 'boolean' },
          note: { type: 'string' },
        },
      },
    },
  },
  paths: {
    '/v1/things/{id}': { get: { security: [{ bearer: [] }] } },
    '/v1/search': {
      get: { security: [{ bearer: [] }], parameters: [{ in: 'query', name: 'q', required: true }] },
    },
    '/v1/keyed': { get: { security: [{ key: [] }] } },
    '/v1/optional': { get: { security: [{}, { bearer: [] }] } },
    '/v1/list': { get: { security: [{ bearer: [] }] } },
    '/v1/users/me': { get: { security: [{ bearer: [] }] } },
    '/v1/auth/login': {
      post: {
        requestBody: {
          content: { 'application/json': { schema: { $ref: '#/components/schemas/Login' } } },
        },
      },
    },
  },
};

describe('scan discovery', () => {
  const api = describeApi(doc)!;

  it('reads an OpenAPI document, and nothing else', () => {
    expect(describeApi({ swagger: '2.0', paths: {} })).toBeUndefined();
    expect(describeApi('<html>')).toBeUndefined();
    expect(api.operations).toHaveLength(7);
  });

  it('finds a protected GET that needs nothing but a bearer token, /me first', () => {
    expect(findProtectedRoute(api)).toBe('/v1/users/me');
    const withoutMe = describeApi({ ...doc, paths: { ...doc.paths, '/v1/users/me': {} } })!;
    // Not the one with a path parameter, a required query, an API key, or optional security.
    expect(findProtectedRoute(withoutMe)).toBe('/v1/list');
  });

  it('finds the login route and builds a body its schema accepts', () => {
    const login = findLoginRoute(api)!;
    expect(login.path).toBe('/v1/auth/login');
    const sample = sampleValue(login.jsonBody, api.root) as Record<string, unknown>;
    expect(Object.keys(sample)).toEqual(['email', 'password', 'remember']);
    expect(sample.email).toBe('audit-probe@example.com');
    expect((sample.password as string).length).toBe(40);
    expect(sample.remember).toBe(false);
  });

  it('gives up on a schema it cannot satisfy', () => {
    expect(
      sampleValue(
        {
          type: 'object',
          required: ['code'],
          properties: { code: { type: 'string', pattern: '^[0-9]{6}$' } },
        },
        {},
      ),
    ).toBeUndefined();
    expect(sampleValue({ $ref: '#/nowhere' }, {})).toBeUndefined();
  });

  it('fills a required __proto__ property as a property, not as the prototype', () => {
    const schema: unknown = JSON.parse(
      '{"type":"object","required":["__proto__","name"],"properties":{"__proto__":{"type":"string"},"name":{"type":"string"}}}',
    );
    const sample = sampleValue(schema, {}) as Record<string, unknown>;
    expect(Object.getPrototypeOf(sample)).toBe(Object.prototype);
    expect(Object.keys(JSON.parse(JSON.stringify(sample)) as object)).toEqual([
      '__proto__',
      'name',
    ]);
  });
});

describe('scan discovery: the servers base path', () => {
  const doc = new URL('http://127.0.0.1:3000/openapi.json');
  const root = new URL('http://127.0.0.1:3000');
  it.each([
    [undefined, doc, root, ''],
    [[{ url: '/api' }], doc, root, '/api'],
    [[{ url: 'https://prod.example.com/v2/' }], doc, root, '/v2'],
    [
      [
        {
          url: '{scheme}://h/{base}',
          variables: { scheme: { default: 'https' }, base: { default: 'svc' } },
        },
      ],
      doc,
      root,
      '/svc',
    ],
    [[{ url: '/api/v1' }], new URL('http://h/api/openapi.json'), new URL('http://h/api'), '/v1'],
    [[{ url: 'v1' }], new URL('http://h/api/openapi.json'), new URL('http://h/api/'), '/v1'],
    [[{ url: '/' }], doc, root, ''],
    [[{ url: '/{base}/v1' }], doc, root, ''],
  ])(
    'servers %j: prefix for a document at %s, target %s is %j',
    (servers, documentUrl, target, prefix) => {
      expect(serverPrefix({ openapi: '3.0.0', paths: {}, servers }, documentUrl, target)).toBe(
        prefix,
      );
    },
  );

  it('puts the prefix before every operation path', () => {
    const api = describeApi({ openapi: '3.1.0', paths: { '/me': { get: {} } } }, '/api')!;
    expect(api.operations.map((op) => op.path)).toEqual(['/api/me']);
  });
});

describe('scan token forgeries', () => {
  const header = Buffer.from(JSON.stringify({ alg: 'EdDSA', typ: 'at+jwt', kid: 'k1' })).toString(
    'base64url',
  );
  const payload = Buffer.from(
    JSON.stringify({ sub: 'u', role: 'user', exp: 2_000_000_000 }),
  ).toString('base64url');
  const token = `${header}.${payload}.${Buffer.alloc(64, 7).toString('base64url')}`;

  it('makes each attack a different token from the one given', () => {
    const forgeries = forgeTokens(token, []);
    expect(new Set(forgeries.map((f) => f.token)).size).toBe(forgeries.length);
    expect(forgeries.map((f) => f.token)).not.toContain(token);
    const none = decodeJwt(forgeries[0]!.token)!;
    expect(none.header.alg).toBe('none');
    expect(forgeries[0]!.token.endsWith('.')).toBe(true);
    const raised = forgeries.find((f) => f.attack.startsWith('payload changed'))!;
    expect(decodeJwt(raised.token)!.payload).toMatchObject({ role: 'admin', exp: 2_000_086_400 });
  });

  it('adds key-confusion tokens per published public key (its PEM with and without the final newline), and none for secret keys', () => {
    const jwk = {
      ...generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }),
      kid: 'k1',
    };
    const forgeries = forgeTokens(token, [jwk, { kty: 'oct', k: 'c2VjcmV0' }]);
    const confusion = forgeries.filter((f) => f.attack.startsWith('HS256 keyed'));
    expect(confusion.map((f) => f.attack)).toEqual([
      'HS256 keyed with the published public key "k1" (PEM)',
      'HS256 keyed with the published public key "k1" (PEM without its final newline)',
    ]);
    for (const forgery of confusion)
      expect(decodeJwt(forgery.token)!.header).toMatchObject({ alg: 'HS256', kid: 'k1' });
  });

  it('forges nothing from a token that is not a JWT', () => {
    expect(forgeTokens('opaque-token', [])).toEqual([]);
    expect(decodeJwt('a.b.c')).toBeUndefined();
  });
});
