import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { deliverCallback, oidcFixture, signIn, startSignIn, type OidcFixture } from './support.js';

/* Client authentication with private_key_jwt (RFC 7523) instead of a shared secret. */

const fixtures: OidcFixture[] = [];
afterAll(async () => {
  for (const f of fixtures) await f.close();
});

function keyFile(content: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'bulwark-oidc-key-')), 'client-key');
  writeFileSync(file, content, { mode: 0o600 });
  return file;
}

describe('private_key_jwt client authentication', () => {
  it('signs in with the key as a private JWK file', async () => {
    const f = await oidcFixture(
      [{ sub: 'erin', email: 'erin@example.com', email_verified: true }],
      (provider) => ({
        privateKeyAlgorithm: 'ES256',
        privateKeyFile: keyFile(
          JSON.stringify({
            ...provider.clientKey.export({ format: 'jwk' }),
            kid: provider.clientKid,
          }),
        ),
      }),
      {},
      { privateKeyJwt: true },
    );
    fixtures.push(f);
    expect((await signIn(f, 'erin')).user.email).toBe('erin@example.com');
    expect(f.logs.raw.join('\n')).not.toContain('"d":');
  });

  it('signs in with the key as a PKCS#8 PEM file', async () => {
    const f = await oidcFixture(
      [{ sub: 'frank', email: 'frank@example.com', email_verified: true }],
      (provider) => ({
        privateKeyAlgorithm: 'ES256',
        privateKeyFile: keyFile(
          provider.clientKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
        ),
      }),
      {},
      { privateKeyJwt: true },
    );
    fixtures.push(f);
    expect((await signIn(f, 'frank')).user.email).toBe('frank@example.com');
  });

  it('is refused by the provider when the app holds the wrong key', async () => {
    const wrong = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const f = await oidcFixture(
      [{ sub: 'gina', email: 'gina@example.com', email_verified: true }],
      (provider) => ({
        privateKeyAlgorithm: 'ES256',
        privateKeyFile: keyFile(
          JSON.stringify({ ...wrong.export({ format: 'jwk' }), kid: provider.clientKid }),
        ),
      }),
      {},
      { privateKeyJwt: true },
    );
    fixtures.push(f);
    const started = await startSignIn(f);
    const callback = await f.provider.authorize(started.location.href, 'gina');
    const res = await deliverCallback(f, callback, started.loginCookie);
    expect(res.statusCode).toBe(401);
    expect(res.json<{ code: string }>().code).toBe('oidc_code_rejected');
  });

  describe('a key file that cannot be used stops the start, naming the file and never its contents', () => {
    const secretMarker = 'c2VjcmV0LWtleS1tYXRlcmlhbA';
    const cases: [string, () => string, RegExp][] = [
      [
        'a missing file',
        () => join(tmpdir(), 'bulwark-no-such-key.pem'),
        /cannot be read \(ENOENT\)/,
      ],
      [
        'a public key only',
        () => {
          const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
          return keyFile(JSON.stringify(publicKey.export({ format: 'jwk' })));
        },
        /does not hold a private ES256 key/,
      ],
      [
        'a key of another algorithm',
        () => {
          const { privateKey } = generateKeyPairSync('ed25519');
          return keyFile(privateKey.export({ format: 'pem', type: 'pkcs8' }).toString());
        },
        /does not hold a private ES256 key/,
      ],
      [
        'garbage',
        () => keyFile(`-----BEGIN PRIVATE KEY-----\n${secretMarker}\n-----END PRIVATE KEY-----`),
        /does not hold a private ES256 key/,
      ],
      [
        'broken JSON',
        () => keyFile(`{"d": "${secretMarker}"`),
        /does not hold a private ES256 key/,
      ],
    ];
    it.each(cases)('%s', async (_name, makeFile, reason) => {
      const file = makeFile();
      const failure = await oidcFixture(
        [],
        { privateKeyAlgorithm: 'ES256', privateKeyFile: file },
        {},
        { privateKeyJwt: true },
      ).then(
        () => {
          throw new Error('the app started');
        },
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(ConfigError);
      const message = (failure as ConfigError).problems.join('\n');
      expect(message).toContain(`oidc.providers.test.privateKeyFile ${file}`);
      expect(message).toMatch(reason);
      expect(message).toContain('Fix:');
      expect(message).not.toContain(secretMarker);
    });
  });
});
