import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { buildToolsApp } from '../../src/tools/server.js';

/** A loopback port nothing listens on (a server's, closed again). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

// A provider that does not answer: the page said "fetch failed" (undici's words, which say
// nothing), where the JWT verifier's JWKS URL says what happened.
describe('the OIDC playground, provider unreachable', () => {
  it('says what went wrong with the discovery request', async () => {
    const tools = await buildToolsApp({ baseUrl: () => 'http://127.0.0.1:4000' });
    try {
      const port = await closedPort();
      const res = await tools.inject({
        method: 'POST',
        url: '/api/oidc/start',
        headers: { host: '127.0.0.1:4000' },
        payload: { issuer: `http://127.0.0.1:${port}`, clientId: 'c' },
      });
      expect(res.statusCode).toBe(400);
      expect(res.json<{ detail: string }>().detail).toBe(
        `Discovery at http://127.0.0.1:${port}/.well-known/openid-configuration failed: the connection was refused`,
      );
    } finally {
      await tools.close();
    }
  });
});
