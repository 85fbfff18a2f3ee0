import { describe, expect, it } from 'vitest';
import { buildTestApp } from '../helpers/app.js';

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
