import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runScan, TargetUnreachableError } from '../../src/scan/scanner.js';
import { devCertFiles, type CertFiles } from '../helpers/tls.js';

/*
 * The three ways a first scan of one's own API usually fails before any check: https to a plain
 * HTTP port, http to an HTTPS port, and a self-signed certificate. The message said what Node or
 * OpenSSL said ("write EPROTO 80BC…:error:0A00010B:SSL routines:…:wrong version number", "socket
 * hang up", "self-signed certificate"), never what to do.
 */
async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function unreachable(target: string): Promise<string> {
  const error = await runScan({ target: new URL(target), rateLimitRequests: 0 }).catch(
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TargetUnreachableError);
  return (error as Error).message;
}

describe('bulwark audit, a target it cannot talk to', () => {
  let cert: CertFiles;
  let plain: Server;
  let tls: Server;
  let plainPort: number;
  let tlsPort: number;
  beforeAll(async () => {
    cert = devCertFiles();
    const answer = (_req: unknown, res: { writeHead(s: number): { end(b: string): void } }) =>
      res.writeHead(200).end('{}');
    plain = createHttpServer(answer);
    tls = createHttpsServer({ cert: cert.cert, key: readFileSync(cert.keyFile) }, answer);
    plainPort = await listen(plain);
    tlsPort = await listen(tls);
  });
  afterAll(async () => {
    for (const server of [plain, tls]) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
    cert.cleanup();
  });

  it('https to a plain HTTP port: says so and names the http URL', async () => {
    const message = await unreachable(`https://127.0.0.1:${plainPort}`);
    expect(message).toBe(
      `could not reach https://127.0.0.1:${plainPort}/: it does not answer in TLS on this port. ` +
        `Fix: if it serves plain HTTP there, scan http://127.0.0.1:${plainPort}/.`,
    );
  });

  it('http to an HTTPS port: names the https URL', async () => {
    const message = await unreachable(`http://127.0.0.1:${tlsPort}`);
    expect(message).toMatch(
      new RegExp(
        `^could not reach http://127\\.0\\.0\\.1:${tlsPort}/: .+\\. Fix: if it serves HTTPS there, scan https://127\\.0\\.0\\.1:${tlsPort}/\\.$`,
      ),
    );
  });

  it('a certificate it does not trust: says to give its CA with --ca', async () => {
    const message = await unreachable(`https://127.0.0.1:${tlsPort}`);
    expect(message).toMatch(/self[- ]signed/i);
    expect(message).toContain('Fix: give the certificate of the CA that signed it');
    expect(message).toContain('--ca FILE');
  });
});
