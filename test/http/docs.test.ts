import { describe, expect, it } from 'vitest';
import { errorCatalog } from '../../src/errors.js';
import { buildTestApp, UNCONTACTED_PROVIDER } from '../helpers/app.js';
import { listenOnLoopback, sendRaw } from '../helpers/raw-http.js';

describe('API docs', () => {
  it('serves OpenAPI 3.1 generated from the route schemas', async () => {
    const t = await buildTestApp();
    try {
      const res = await t.app.inject({ method: 'GET', url: '/openapi.json' });
      expect(res.statusCode).toBe(200);
      const doc = res.json();
      expect(doc.openapi).toBe('3.1.0');
      expect(Object.keys(doc.paths)).toEqual(
        expect.arrayContaining(['/health/live', '/health/ready', '/api/v1']),
      );
      expect(
        doc.paths['/api/v1/examples'].post.requestBody.content['application/json'].schema
          .additionalProperties,
      ).toBe(false);
      expect(Object.keys(doc.paths).some((p) => p.startsWith('/docs'))).toBe(false);
      const index = await t.app.inject({ method: 'GET', url: '/api/v1' });
      expect(index.json().links).toEqual({ openapi: '/openapi.json', docs: '/docs' });
    } finally {
      await t.app.close();
    }
  });

  it('describes the OpenID Connect sign-in only when a provider is configured', async () => {
    const signIn = [
      '/api/v1/auth/oidc/{provider}',
      '/api/v1/auth/oidc/{provider}/callback',
      '/api/v1/auth/oidc/exchange',
    ];
    const paths = async (t: Awaited<ReturnType<typeof buildTestApp>>) =>
      Object.keys((await t.app.inject({ method: 'GET', url: '/openapi.json' })).json().paths);
    const without = await buildTestApp();
    try {
      const listed = await paths(without);
      for (const path of signIn) expect(listed).not.toContain(path);
      // Linked identities stay: links made while a provider was configured can still be managed.
      expect(listed).toContain('/api/v1/users/me/identities');
      // Left out of the description, not removed: the answer is the same as for an unknown name.
      const res = await without.app.inject({ method: 'GET', url: '/api/v1/auth/oidc/google' });
      expect(res.statusCode).toBe(404);
      expect(res.json().code).toBe('oidc_unknown_provider');
    } finally {
      await without.app.close();
    }
    const withProvider = await buildTestApp({ oidc: UNCONTACTED_PROVIDER });
    try {
      expect(await paths(withProvider)).toEqual(expect.arrayContaining(signIn));
    } finally {
      await withProvider.app.close();
    }
  });

  it('describes the error answer of every operation: a problem document with a catalog code', async () => {
    const t = await buildTestApp();
    try {
      const doc = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json<{
        components: { schemas: Record<string, { properties: { code: { enum: string[] } } }> };
        paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
      }>();
      const operations = Object.values(doc.paths).flatMap((item) => Object.values(item));
      expect(operations.length).toBeGreaterThan(20);
      for (const operation of operations) {
        expect(operation.responses.default).toEqual({
          description: expect.stringContaining('RFC 9457'),
          content: {
            'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } },
          },
        });
      }
      const codes = doc.components.schemas.Problem!.properties.code.enum;
      expect(codes).toEqual(expect.arrayContaining(Object.keys(errorCatalog)));
      expect(codes).toHaveLength(Object.keys(errorCatalog).length);
      // The answers keep their shape: the document changed, not the serialisation.
      const problem = await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { email: 'nobody@example.com', password: 'wrong password 1234', extra: 1 },
      });
      expect(problem.statusCode).toBe(400);
      expect(problem.json()).toMatchObject({
        code: 'validation_failed',
        errors: [expect.anything()],
      });
    } finally {
      await t.app.close();
    }
  });

  it('serves the interactive reference from local assets', async () => {
    const t = await buildTestApp();
    try {
      const page = await t.app.inject({ method: 'GET', url: '/docs/' });
      expect(page.statusCode).toBe(200);
      expect(page.headers['content-type']).toMatch(/text\/html/);
      expect(page.body).not.toMatch(/https?:\/\/(?!127\.0\.0\.1)/);
      const bundle = await t.app.inject({
        method: 'GET',
        url: '/docs/static/swagger-ui-bundle.js',
      });
      expect(bundle.statusCode).toBe(200);
    } finally {
      await t.app.close();
    }
  });

  // swagger-ui's /docs/static/index.html redirect took its Location from the raw request target:
  // an absolute-form target put its host in the Location (an open redirect for whatever relays
  // such a request, and a poisoned redirect for a cache behind it), `//docs/static/index.html`
  // sent a browser to the host `docs`, and a query string redirected to the same URL forever.
  it('redirects /docs/static/index.html to /docs/ whatever the request target', async () => {
    const t = await buildTestApp();
    try {
      const port = await listenOnLoopback(t.app);
      for (const target of [
        '/docs/static/index.html',
        'http://evil.example/docs/static/index.html',
        'http://evil.example:80@127.0.0.1/docs/static/index.html',
        '//docs/static/index.html',
        '/docs//static/index.html',
        '/docs/static/index.html?x=1',
      ]) {
        const res = await sendRaw(
          port,
          `GET ${target} HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n`,
        );
        expect(res.status, target).toBe(302);
        expect(res.headers.location, target).toBe('/docs/');
      }
    } finally {
      await t.app.close();
    }
  });

  it('serves neither when docs are disabled', async () => {
    const t = await buildTestApp({ docs: { enabled: false } });
    try {
      expect((await t.app.inject({ method: 'GET', url: '/openapi.json' })).statusCode).toBe(404);
      expect((await t.app.inject({ method: 'GET', url: '/docs/' })).statusCode).toBe(404);
      // The version index must not advertise addresses that answer 404.
      const index = await t.app.inject({ method: 'GET', url: '/api/v1' });
      expect(index.statusCode).toBe(200);
      expect(index.json().links).toEqual({ openapi: null, docs: null });
    } finally {
      await t.app.close();
    }
  });
});
