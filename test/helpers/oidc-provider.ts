import {
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  sign as signBytes,
  type KeyObject,
} from 'node:crypto';
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';

/*
 * A real OpenID Connect provider (oidc-provider) on loopback, for the sign-in tests.
 *
 * Two servers: the provider itself on one port, and in front of it a pass-through proxy on the
 * issuer's port. The proxy forwards every request unchanged, except that a test can install a
 * `tamper` hook on token endpoint responses: that is how tests produce what a well-behaved
 * provider never sends (a wrong nonce, an expired or foreign-signed ID token), while the rest of
 * the flow stays the real protocol. The provider's signing key is generated here, so a tampered
 * ID token can be re-signed with the very key the provider publishes, isolating one fault.
 */

export interface TestAccount {
  sub: string;
  email?: string;
  email_verified?: boolean;
  name?: string;
}

export interface TokenResponse {
  access_token: string;
  id_token?: string;
  token_type: string;
  expires_in?: number;
  [key: string]: unknown;
}

export interface JwtParts {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
}

export const TEST_CLIENT_ID = 'bulwark-test';

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}

function readBody(stream: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

/** Decodes a compact JWS without verifying it. */
export function decodeJwt(token: string): JwtParts {
  const [header, payload] = token.split('.');
  const part = (text: string | undefined): Record<string, unknown> =>
    JSON.parse(Buffer.from(text ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
  return { header: part(header), payload: part(payload) };
}

/** Signs a JWT with RS256 under `key` (node:crypto; the tests forge tokens on purpose). */
export function signRs256(parts: JwtParts, key: KeyObject): string {
  const encode = (value: Record<string, unknown>): string =>
    Buffer.from(JSON.stringify(value)).toString('base64url');
  const input = `${encode({ ...parts.header, alg: 'RS256' })}.${encode(parts.payload)}`;
  return `${input}.${signBytes('sha256', Buffer.from(input), key).toString('base64url')}`;
}

export interface TestProviderOptions {
  /** Callback URLs the test client may use. */
  redirectUris: string[];
  accounts: TestAccount[];
  /** The client authenticates with private_key_jwt (a key made here) instead of a secret. */
  privateKeyJwt?: boolean;
  /**
   * The ID token carries only the protocol claims and the email and name come from the UserInfo
   * endpoint, as OIDC Core 5.4 prescribes for the code flow (oidc-provider's default). Off by
   * default: the ID token carries them, as Google's does.
   */
  claimsInUserInfoOnly?: boolean;
  /**
   * false: the provider does not take the claims parameter, so its ID tokens carry no auth_time
   * unless a sign-in sends max_age. Default: it takes it.
   */
  claimsParameter?: boolean;
}

export class TestOidcProvider {
  readonly clientId = TEST_CLIENT_ID;
  readonly clientSecret = randomBytes(24).toString('base64url');
  readonly kid = 'test-key-1';
  readonly privateKey: KeyObject;
  /** The client's own key pair, for private_key_jwt. */
  readonly clientKey: KeyObject;
  readonly clientKid = 'client-key-1';
  /** Rewrites the next token endpoint responses while set. */
  tamper: ((body: TokenResponse) => TokenResponse) | undefined;
  /** Token endpoint requests seen (for assertions that the code was really sent). */
  tokenRequests = 0;
  /** Rewrites the UserInfo responses while set. */
  tamperUserInfo: ((body: Record<string, unknown>) => Record<string, unknown>) | undefined;
  /** UserInfo requests seen. */
  userInfoRequests = 0;
  private readonly accounts = new Map<string, TestAccount>();
  private inner: Server | undefined;
  private outer: Server | undefined;
  issuer = '';

  private constructor(private readonly options: TestProviderOptions) {
    this.privateKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    this.clientKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    for (const account of options.accounts) this.accounts.set(account.sub, account);
  }

  static async start(options: TestProviderOptions): Promise<TestOidcProvider> {
    const provider = new TestOidcProvider(options);
    await provider.listen();
    return provider;
  }

  /** Adds or replaces an account. */
  account(account: TestAccount): void {
    this.accounts.set(account.sub, account);
  }

  async stop(): Promise<void> {
    if (this.outer) await close(this.outer);
    if (this.inner) await close(this.inner);
  }

  /** Re-signs an ID token with the provider's own key after `edit` changed its claims. */
  resign(
    idToken: string,
    edit: (parts: JwtParts) => void,
    key: KeyObject = this.privateKey,
  ): string {
    const parts = decodeJwt(idToken);
    edit(parts);
    return signRs256(parts, key);
  }

  /**
   * Plays the browser at the provider: follows the authorization URL, signs in as `sub` on the
   * login form, grants consent, and returns the URL the provider redirects back to (the
   * callback, with code, state and iss). `abort` cancels at the login step instead. `jar` is
   * the browser's cookies at the provider: pass the same one to sign in again through the
   * provider session the first sign-in left (single sign-on: no login form, no consent).
   */
  async authorize(
    authorizationUrl: string,
    sub: string,
    abort = false,
    jar = new Map<string, string>(),
  ): Promise<URL> {
    const origin = new URL(this.issuer).origin;
    const send = async (url: URL, form?: Record<string, string>): Promise<Response> => {
      const response = await fetch(url, {
        method: form ? 'POST' : 'GET',
        redirect: 'manual',
        headers: {
          cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; '),
          ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
        },
        ...(form ? { body: new URLSearchParams(form).toString() } : {}),
      });
      for (const line of response.headers.getSetCookie()) {
        const [pair] = line.split(';');
        const eq = pair!.indexOf('=');
        const name = pair!.slice(0, eq).trim();
        const value = pair!.slice(eq + 1).trim();
        if (value === '' || /expires=Thu, 01 Jan 1970/i.test(line)) jar.delete(name);
        else jar.set(name, value);
      }
      return response;
    };

    let url = new URL(authorizationUrl);
    let response = await send(url);
    for (let step = 0; step < 20; step++) {
      if (response.status >= 300 && response.status < 400) {
        const next = new URL(response.headers.get('location')!, url);
        if (next.origin !== origin) return next;
        url = next;
        response = await send(url);
        continue;
      }
      const html = await response.text();
      if (response.status !== 200) throw new Error(`provider answered ${response.status}: ${html}`);
      const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
      const prompt = /name="prompt" value="([a-z]+)"/.exec(html)?.[1];
      if (!action || !prompt) throw new Error(`no interaction form in: ${html.slice(0, 500)}`);
      const uid = /\/interaction\/([^/"]+)/.exec(action)?.[1];
      if (abort && uid) {
        url = new URL(`/interaction/${uid}/abort`, origin);
        response = await send(url);
        continue;
      }
      url = new URL(action.replaceAll('&amp;', '&'), url);
      response = await send(
        url,
        prompt === 'login' ? { prompt, login: sub, password: 'any' } : { prompt },
      );
    }
    throw new Error('the provider never redirected back');
  }

  private async listen(): Promise<void> {
    this.outer = createServer((req, res) => {
      void this.forward(req, res).catch((error: unknown) => {
        res.statusCode = 502;
        res.end(String(error));
      });
    });
    const outerPort = await listen(this.outer);
    this.issuer = `http://127.0.0.1:${outerPort}`;
    const jwk = this.privateKey.export({ format: 'jwk' });
    const provider = new Provider(this.issuer, {
      clients: [
        {
          client_id: this.clientId,
          client_secret: this.clientSecret,
          redirect_uris: this.options.redirectUris,
          grant_types: ['authorization_code'],
          response_types: ['code'],
          ...(this.options.privateKeyJwt
            ? {
                token_endpoint_auth_method: 'private_key_jwt',
                token_endpoint_auth_signing_alg: 'ES256',
                jwks: {
                  keys: [
                    {
                      ...createPublicKey(this.clientKey).export({ format: 'jwk' }),
                      kid: this.clientKid,
                      alg: 'ES256',
                      use: 'sig',
                    },
                  ],
                },
              }
            : { token_endpoint_auth_method: 'client_secret_basic' }),
        },
      ],
      jwks: { keys: [{ ...jwk, kid: this.kid, alg: 'RS256', use: 'sig' }] },
      findAccount: (_ctx: unknown, sub: string) => {
        const account = this.accounts.get(sub);
        if (!account) return undefined;
        return { accountId: sub, claims: () => ({ ...account }) };
      },
      claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
      // By default the ID token carries the scope claims (email, name), as Google's does.
      conformIdTokenClaims: this.options.claimsInUserInfoOnly === true,
      pkce: { required: () => true },
      cookies: { keys: [randomBytes(32).toString('base64url')] },
      // The claims parameter, as Google takes it for auth_time: Bulwark asks for auth_time there.
      features: {
        devInteractions: { enabled: true },
        claimsParameter: { enabled: this.options.claimsParameter !== false },
      },
      ttl: {
        AuthorizationCode: 60,
        AccessToken: 600,
        IdToken: 600,
        Interaction: 600,
        Session: 3_600,
        Grant: 3_600,
      },
    });
    // The provider reports expected client errors (bad codes) as events; they are not failures here.
    provider.on('server_error', (_ctx: unknown, error: unknown) => {
      console.error('oidc-provider server_error', error);
    });
    this.inner = createServer(provider.callback());
    await listen(this.inner);
  }

  private async forward(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const innerPort = (this.inner!.address() as AddressInfo).port;
    const body = await readBody(req);
    const path = (req.url ?? '').split('?')[0];
    const isToken = req.method === 'POST' && path === '/token';
    const isUserInfo = path === '/me';
    if (isToken) this.tokenRequests++;
    const upstream = await new Promise<IncomingMessage>((resolve, reject) => {
      const out = httpRequest(
        {
          host: '127.0.0.1',
          port: innerPort,
          method: req.method,
          path: req.url,
          headers: req.headers,
        },
        resolve,
      );
      out.on('error', reject);
      out.end(body);
    });
    let payload = await readBody(upstream);
    const headers = { ...upstream.headers };
    if (isToken && this.tamper && upstream.statusCode === 200) {
      const json = JSON.parse(payload.toString('utf8')) as TokenResponse;
      payload = Buffer.from(JSON.stringify(this.tamper(json)));
      headers['content-length'] = String(payload.length);
      delete headers.etag;
    }
    if (isUserInfo && this.tamperUserInfo && upstream.statusCode === 200) {
      const json = JSON.parse(payload.toString('utf8')) as Record<string, unknown>;
      payload = Buffer.from(JSON.stringify(this.tamperUserInfo(json)));
      headers['content-length'] = String(payload.length);
      delete headers.etag;
    }
    if (isUserInfo) this.userInfoRequests++;
    res.writeHead(upstream.statusCode ?? 502, headers);
    res.end(payload);
  }
}
