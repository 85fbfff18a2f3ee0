import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchJwks } from '../../src/tools/fetch-text.js';
import { devCertFiles, type CertFiles } from '../helpers/tls.js';

// A JWKS URL (or an OIDC provider) on HTTPS with a self-signed or private-CA certificate: the
// JWT verifier said "it could not be reached (DEPTH_ZERO_SELF_SIGNED_CERT)" and no more, while
// Node trusts such a CA when started with NODE_EXTRA_CA_CERTS.
describe('a JWKS URL whose certificate is not trusted', () => {
  let cert: CertFiles;
  let server: Server;
  let url: string;
  beforeAll(async () => {
    cert = devCertFiles();
    server = createServer({ cert: cert.cert, key: readFileSync(cert.keyFile) }, (_req, res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys":[]}'),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    cert.cleanup();
  });

  it('says why, and how to trust its CA', async () => {
    const result = await fetchJwks(url, { timeoutMs: 5_000, maxBytes: 1024 });
    expect(result).toMatchObject({ ok: false, problem: 'unreachable' });
    const reason = (result as { reason: string }).reason;
    expect(reason).toBe(
      'its certificate is not trusted (DEPTH_ZERO_SELF_SIGNED_CERT): to trust a private CA, ' +
        "start bulwark with NODE_EXTRA_CA_CERTS set to the CA's certificate file",
    );
  });
});
