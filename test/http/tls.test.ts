import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { connect, createServer, type Server, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { readTlsCredentials, TLS_CIPHERS, unusableForTls } from '../../src/http/tls.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { caIssuedCertFiles, devCertFiles, type CertFiles } from '../helpers/tls.js';

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
}

function get(
  url: string,
  options: { ca?: string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const send = url.startsWith('https:') ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      url,
      {
        headers: options.headers,
        ...(options.ca ? { ca: options.ca } : {}),
        servername: 'localhost',
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

type Handshake =
  { ok: true; protocol: string | null; cipher: string } | { ok: false; code: string };

/** One TLS handshake with the given client limits; resolves with what happened, never throws. */
function handshake(
  port: number,
  options: { minVersion?: string; maxVersion?: string; ciphers?: string },
): Promise<Handshake> {
  return new Promise((resolve) => {
    const socket: TLSSocket = connect({
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      rejectUnauthorized: false,
      ...(options as object),
    });
    socket.once('secureConnect', () => {
      const result = {
        ok: true as const,
        protocol: socket.getProtocol(),
        cipher: socket.getCipher().name,
      };
      socket.destroy();
      resolve(result);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      socket.destroy();
      resolve({ ok: false, code: error.code ?? error.message });
    });
  });
}

let cert: CertFiles;
let https: TestApp;
let httpsPort: number;
/** A deliberately permissive TLS server: proves the test clients really offer what is refused. */
let permissive: Server;
let permissivePort: number;

beforeAll(async () => {
  cert = devCertFiles();
  https = await buildTestApp({ tls: { certFile: cert.certFile, keyFile: cert.keyFile } });
  await https.app.listen({ host: '127.0.0.1', port: 0 });
  httpsPort = (https.app.server.address() as { port: number }).port;
  permissive = createServer({
    cert: cert.cert,
    key: readFileSync(cert.keyFile),
    minVersion: 'TLSv1',
    ciphers: 'ALL:@SECLEVEL=0',
    dhparam: 'auto',
  });
  permissive.on('secureConnection', (s) => s.end());
  permissive.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => permissive.listen(0, '127.0.0.1', resolve));
  permissivePort = (permissive.address() as { port: number }).port;
});

afterAll(async () => {
  await https?.app.close();
  await new Promise((resolve) => permissive?.close(resolve));
  cert?.cleanup();
});

describe('HTTPS listener: protocol versions', () => {
  it.each([
    ['TLS 1.0', 'TLSv1'],
    ['TLS 1.1', 'TLSv1.1'],
  ])(
    'refuses a %s client (which the permissive control server accepts)',
    async (_label, version) => {
      const client = { minVersion: version, maxVersion: version, ciphers: 'DEFAULT@SECLEVEL=0' };
      const control = await handshake(permissivePort, client);
      expect(control).toMatchObject({ ok: true, protocol: version });
      const refused = await handshake(httpsPort, client);
      expect(refused.ok).toBe(false);
      expect(refused.ok ? '' : refused.code).toMatch(
        /PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL|NO_PROTOCOLS/,
      );
    },
  );

  it('refuses a client offering TLS 1.0 up to 1.1 together', async () => {
    const result = await handshake(httpsPort, {
      minVersion: 'TLSv1',
      maxVersion: 'TLSv1.1',
      ciphers: 'DEFAULT@SECLEVEL=0',
    });
    expect(result.ok).toBe(false);
  });

  it.each([['TLSv1.2'], ['TLSv1.3']])('accepts a %s client', async (version) => {
    const result = await handshake(httpsPort, { minVersion: version, maxVersion: version });
    expect(result).toMatchObject({ ok: true, protocol: version });
  });

  it('negotiates TLS 1.3 with a default client', async () => {
    expect(await handshake(httpsPort, {})).toMatchObject({ ok: true, protocol: 'TLSv1.3' });
  });
});

describe('HTTPS listener: TLS 1.2 cipher suites', () => {
  it.each([
    ['RSA key exchange, CBC', 'AES128-SHA'],
    ['RSA key exchange, AEAD', 'AES128-GCM-SHA256'],
    ['finite-field DHE', 'DHE-RSA-AES128-GCM-SHA256'],
    ['ECDHE with CBC and SHA-1', 'ECDHE-RSA-AES128-SHA'],
    ['ECDHE with CBC and SHA-256', 'ECDHE-RSA-AES128-SHA256'],
    ['ECDHE with CBC and SHA-384', 'ECDHE-RSA-AES256-SHA384'],
  ])('refuses %s (%s)', async (_label, cipher) => {
    const client = { maxVersion: 'TLSv1.2', ciphers: `${cipher}:@SECLEVEL=0` };
    const control = await handshake(permissivePort, client);
    expect(control).toMatchObject({ ok: true, cipher });
    const result = await handshake(httpsPort, client);
    expect(result.ok).toBe(false);
  });

  it.each([
    ['ECDHE-RSA-AES128-GCM-SHA256'],
    ['ECDHE-RSA-AES256-GCM-SHA384'],
    ['ECDHE-RSA-CHACHA20-POLY1305'],
  ])('accepts %s', async (cipher) => {
    const result = await handshake(httpsPort, { maxVersion: 'TLSv1.2', ciphers: cipher });
    expect(result).toMatchObject({ ok: true, protocol: 'TLSv1.2', cipher });
  });

  it('configures only ECDHE + AEAD suites for TLS 1.2', () => {
    const tls12 = TLS_CIPHERS.split(':').filter((c) => !c.startsWith('TLS_'));
    for (const c of tls12)
      expect(c).toMatch(/^ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$/);
  });
});

describe('HSTS', () => {
  it('is on HTTPS responses, errors included', async () => {
    for (const path of ['/health/live', '/missing', '/api/v1/examples?x=1']) {
      const res = await get(`https://127.0.0.1:${httpsPort}${path}`, { ca: cert.cert });
      expect(res.headers['strict-transport-security'], path).toBe(
        'max-age=31536000; includeSubDomains',
      );
    }
  });

  describe('on plain HTTP', () => {
    const started: TestApp[] = [];
    afterAll(async () => {
      for (const t of started) await t.app.close();
    });

    async function plain(input: Parameters<typeof buildTestApp>[0]): Promise<string> {
      const t = await buildTestApp(input);
      started.push(t);
      return t.app.listen({ host: '127.0.0.1', port: 0 });
    }

    it('is never sent without TLS, even when a client claims X-Forwarded-Proto: https', async () => {
      const url = await plain({});
      const direct = await get(`${url}/health/live`);
      expect(direct.status).toBe(200);
      expect(direct.headers['strict-transport-security']).toBeUndefined();
      const spoofed = await get(`${url}/health/live`, {
        headers: { 'x-forwarded-proto': 'https' },
      });
      expect(spoofed.headers['strict-transport-security']).toBeUndefined();
    });

    it('ignores X-Forwarded-Proto from a peer that is not a trusted proxy', async () => {
      const url = await plain({ server: { trustProxy: ['10.0.0.5'] } });
      const res = await get(`${url}/health/live`, { headers: { 'x-forwarded-proto': 'https' } });
      expect(res.headers['strict-transport-security']).toBeUndefined();
    });

    it('counts X-Forwarded-Proto: https from a trusted proxy as HTTPS (preload when opted in)', async () => {
      const url = await plain({
        server: { trustProxy: ['127.0.0.1'] },
        hsts: { maxAgeSeconds: 63_072_000, preload: true },
      });
      const viaProxy = await get(`${url}/health/live`, {
        headers: { 'x-forwarded-proto': 'https' },
      });
      expect(viaProxy.headers['strict-transport-security']).toBe(
        'max-age=63072000; includeSubDomains; preload',
      );
      const plainViaProxy = await get(`${url}/health/live`, {
        headers: { 'x-forwarded-proto': 'http' },
      });
      expect(plainViaProxy.headers['strict-transport-security']).toBeUndefined();
      const noHeader = await get(`${url}/health/live`);
      expect(noHeader.headers['strict-transport-security']).toBeUndefined();
      // docs/security.md: the last value counts, the one the nearest proxy set; a client's own
      // "https" in front of it changes nothing.
      const prepended = await get(`${url}/health/live`, {
        headers: { 'x-forwarded-proto': 'https, http' },
      });
      expect(prepended.headers['strict-transport-security']).toBeUndefined();
      const appended = await get(`${url}/health/live`, {
        headers: { 'x-forwarded-proto': 'http, https' },
      });
      expect(appended.headers['strict-transport-security']).toBe(
        'max-age=63072000; includeSubDomains; preload',
      );
    });
  });
});

describe('TLS files', () => {
  const tls = (certFile: string, keyFile: string, passphrase?: string) => ({
    certFile,
    keyFile,
    minVersion: 'TLSv1.2' as const,
    ...(passphrase === undefined ? {} : { passphrase }),
  });

  function problem(fn: () => unknown): string {
    try {
      fn();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const text = (error as ConfigError).message;
      // Whatever went wrong, no key material and no OpenSSL text reaches the operator.
      expect(text).not.toMatch(/PRIVATE KEY-----|error:[0-9A-F]{8}/);
      const keyBody = readFileSync(cert.keyFile, 'utf8').split('\n')[1]!;
      expect(text).not.toContain(keyBody);
      return text;
    }
    throw new Error('expected a ConfigError');
  }

  it('reads a matching certificate and key', () => {
    const loaded = readTlsCredentials(tls(cert.certFile, cert.keyFile));
    expect(loaded.leaf.subject).toContain('CN=localhost');
  });

  it('names a missing file', () => {
    expect(
      problem(() => readTlsCredentials(tls(join(cert.dir, 'nope.pem'), cert.keyFile))),
    ).toMatch(/tls\.certFile .*nope\.pem cannot be read \(ENOENT\)/);
  });

  it('refuses a file that is not a certificate', () => {
    const bad = join(cert.dir, 'garbage.pem');
    writeFileSync(bad, 'not a certificate\n');
    expect(problem(() => readTlsCredentials(tls(bad, cert.keyFile)))).toMatch(
      /does not hold a PEM certificate/,
    );
  });

  it('refuses a key that is not a key, without echoing its contents', () => {
    const bad = join(cert.dir, 'garbage-key.pem');
    writeFileSync(bad, 'SECRET-LOOKING-CONTENT\n', { mode: 0o600 });
    const text = problem(() => readTlsCredentials(tls(cert.certFile, bad)));
    expect(text).toMatch(/not a usable PEM private key/);
    expect(text).not.toContain('SECRET-LOOKING-CONTENT');
  });

  it('refuses the key of another certificate', () => {
    const other = devCertFiles(cert.dir, 'other');
    expect(problem(() => readTlsCredentials(tls(cert.certFile, other.keyFile)))).toMatch(
      /is not the private key of the certificate/,
    );
  });

  it('opens an encrypted key with tls.passphrase, and refuses a wrong or missing one', () => {
    const encrypted = join(cert.dir, 'encrypted-key.pem');
    writeFileSync(
      encrypted,
      createPrivateKey(readFileSync(cert.keyFile)).export({
        type: 'pkcs8',
        format: 'pem',
        cipher: 'aes-256-cbc',
        passphrase: 'correct horse',
      }),
      { mode: 0o600 },
    );
    expect(readTlsCredentials(tls(cert.certFile, encrypted, 'correct horse')).leaf).toBeDefined();
    expect(problem(() => readTlsCredentials(tls(cert.certFile, encrypted, 'wrong')))).toMatch(
      /passphrase does not open it/,
    );
    expect(problem(() => readTlsCredentials(tls(cert.certFile, encrypted)))).toMatch(
      /if it is encrypted, set tls\.passphrase/,
    );
  });

  // OpenSSL 3.5 (Node.js 24) refuses a 1024-bit RSA certificate for TLS; OpenSSL 3.0 (Node.js 20
  // and 22) accepts it, and the posture check fails it instead (test/posture/checks.test.ts).
  it('says when OpenSSL refuses the key as too small, instead of blaming the chain file', () => {
    const weak = caIssuedCertFiles({ dir: cert.dir, rsaBits: 1024 });
    const leaf = new X509Certificate(readFileSync(weak.certFile));
    const tooSmall = Object.assign(new Error('error:0A00018F:SSL routines::ee key too small'), {
      code: 'ERR_SSL_EE_KEY_TOO_SMALL',
    });
    const text = unusableForTls(tls(weak.certFile, weak.keyFile), leaf, tooSmall);
    expect(text).toBe(
      `tls.certFile ${weak.certFile}: the certificate's RSA key has 1024 bits; at least 2048 are needed, and the OpenSSL of this Node.js release refuses it for TLS. Fix: issue a certificate for an RSA-2048+ or a P-256 key.`,
    );
    // Any other refusal keeps the general message, and OpenSSL's own text never shows.
    const other = Object.assign(new Error('error:0A00018E:SSL routines::ca md too weak'), {
      code: 'ERR_SSL_CA_MD_TOO_WEAK',
    });
    const general = unusableForTls(tls(weak.certFile, weak.keyFile), leaf, other);
    expect(general).toMatch(/cannot be used for TLS\. Fix: check the chain file/);
    expect(general).not.toMatch(/error:|too weak/);
    // What this runtime does with the real file: loads it (OpenSSL 3.0) or refuses it as above.
    let loaded: unknown;
    try {
      loaded = readTlsCredentials(tls(weak.certFile, weak.keyFile));
    } catch (error) {
      loaded = error;
    }
    if (loaded instanceof Error) {
      expect(loaded).toBeInstanceOf(ConfigError);
      expect((loaded as ConfigError).problems).toEqual([text]);
    } else {
      expect(loaded).toHaveProperty('leaf');
    }
  });
});
