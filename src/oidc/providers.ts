import type { JWK } from 'jose';
import type * as client from 'openid-client';
import type { Config } from '../config/index.js';
import { GOOGLE_ISSUER } from '../config/rules.js';
import { ConfigError } from '../errors.js';
import {
  readFailure,
  readFileBoundedSync,
  SETTINGS_FILE_MAX_BYTES,
} from '../files/read-bounded.js';
import { boundedFetch } from '../http/bounded-fetch.js';
import { openidClient, openidClientIfLoaded } from './openid-client.js';

type ProviderConfig = Config['oidc']['providers'][string];

/** A configured provider with its issuer resolved (presets filled in). */
export interface OidcProvider extends ProviderConfig {
  name: string;
  issuer: string;
}

/** Upper bound of every request to a provider (discovery, JWKS, token endpoint), in seconds. */
const PROVIDER_TIMEOUT_SECONDS = 10;

/**
 * Upper bound of every answer read from a provider, after decompression. Real ones are a few
 * KiB; a provider that is not fully trusted (a partner's) must not be able to have a gzip bomb
 * inflated into this server's memory for the whole time limit on every sign-in anyone starts.
 */
const MAX_PROVIDER_RESPONSE_BYTES = 1024 * 1024;
const providerFetch = boundedFetch(MAX_PROVIDER_RESPONSE_BYTES);

/** Discovered provider metadata plus what is needed to build a per-request Configuration. */
interface Discovered {
  server: client.ServerMetadata;
  auth: client.ClientAuth;
}

/**
 * The configured OpenID Connect providers and their discovered metadata. Discovery runs once per
 * provider on first use (a failure is retried on the next request); the metadata is
 * configuration, not per-user state, so caching it in memory keeps instances interchangeable.
 */
export class OidcProviders {
  private readonly byName = new Map<string, OidcProvider>();
  private readonly discovered = new Map<string, Promise<Discovered>>();
  private readonly jwks = new Map<string, client.ExportedJWKSCache>();
  private readonly credentials = new Map<string, client.ClientAuth>();

  /**
   * The providers with their client credentials loaded, so that a missing or unusable
   * `privateKeyFile` stops the start (naming the file, never its contents) instead of failing the
   * first sign-in.
   * @throws ConfigError when a provider's key file cannot be read or is not a usable private key
   */
  static async load(config: Config['oidc'], now?: () => number): Promise<OidcProviders> {
    const providers = new OidcProviders(config, now);
    for (const provider of providers.byName.values()) {
      providers.credentials.set(provider.name, await clientAuth(provider));
    }
    return providers;
  }

  private constructor(
    config: Config['oidc'],
    private readonly now: () => number = Date.now,
  ) {
    for (const [name, provider] of Object.entries(config.providers)) {
      const issuer = provider.issuer ?? (provider.preset === 'google' ? GOOGLE_ISSUER : undefined);
      // The config rules refuse a provider without either; this keeps the types honest.
      if (issuer === undefined) throw new Error(`oidc provider ${name} has no issuer`);
      this.byName.set(name, Object.freeze({ ...provider, name, issuer }));
    }
  }

  get(name: string): OidcProvider | undefined {
    return this.byName.get(name);
  }

  names(): string[] {
    return [...this.byName.keys()];
  }

  /**
   * A Configuration for one request. Built afresh each time around the cached metadata so the
   * validation clock follows this service's clock (`clockSkew`), with the JWKS cache carried over
   * so keys are not re-fetched.
   */
  async configuration(provider: OidcProvider): Promise<client.Configuration> {
    let pending = this.discovered.get(provider.name);
    if (!pending) {
      pending = this.discover(provider);
      this.discovered.set(provider.name, pending);
      pending.catch(() => this.discovered.delete(provider.name));
    }
    const { server, auth } = await pending;
    const lib = await openidClient();
    const skewSeconds = Math.round((this.now() - Date.now()) / 1000);
    const config = new lib.Configuration(
      server,
      provider.clientId,
      { [lib.clockSkew]: skewSeconds },
      auth,
    );
    config.timeout = PROVIDER_TIMEOUT_SECONDS;
    config[lib.customFetch] = providerFetch;
    if (isPlainHttp(provider)) lib.allowInsecureRequests(config);
    // openid-client skips the ID token signature for token-endpoint responses (OIDC Core 3.1.3.7
    // lets TLS stand in for it); verify it against the provider's JWKS anyway, so a compromised
    // network path or a TLS-terminating middlebox cannot hand in a forged identity.
    lib.enableNonRepudiationChecks(config);
    const cache = this.jwks.get(provider.name);
    if (cache) lib.setJwksCache(config, cache);
    return config;
  }

  /** Keeps the JWKS a request fetched for the next requests. */
  rememberJwks(provider: OidcProvider, config: client.Configuration): void {
    // Loaded: `config` came from configuration().
    const cache = openidClientIfLoaded()?.getJwksCache(config);
    if (cache) this.jwks.set(provider.name, cache);
  }

  private async discover(provider: OidcProvider): Promise<Discovered> {
    const auth = this.credentials.get(provider.name);
    // load() fills in every provider of byName, the only ones handed out.
    if (auth === undefined) throw new Error(`oidc provider ${provider.name} has no credentials`);
    const lib = await openidClient();
    const config = await lib.discovery(
      new URL(provider.issuer),
      provider.clientId,
      undefined,
      auth,
      {
        timeout: PROVIDER_TIMEOUT_SECONDS,
        [lib.customFetch]: providerFetch,
        // Plain http is refused in production by the config rules; elsewhere it serves loopback
        // tests and local development against a provider without TLS.
        execute: isPlainHttp(provider) ? [lib.allowInsecureRequests] : [],
      },
    );
    return { server: config.serverMetadata(), auth };
  }
}

function isPlainHttp(provider: OidcProvider): boolean {
  return new URL(provider.issuer).protocol === 'http:';
}

/** client_secret_basic with the secret, or private_key_jwt with the key file. */
async function clientAuth(provider: OidcProvider): Promise<client.ClientAuth> {
  const lib = await openidClient();
  if (provider.clientSecret !== undefined) return lib.ClientSecretBasic(provider.clientSecret);
  if (provider.privateKeyFile === undefined) {
    throw new Error(`oidc provider ${provider.name} has no client credentials`);
  }
  const file = provider.privateKeyFile;
  const setting = `oidc.providers.${provider.name}.privateKeyFile`;
  let text: string;
  try {
    text = readFileBoundedSync(file, SETTINGS_FILE_MAX_BYTES).toString('utf8').trim();
  } catch (error) {
    throw new ConfigError([
      `${setting} ${file} cannot be read (${readFailure(error)}). Fix: point it at a readable private JWK or PKCS#8 PEM file.`,
    ]);
  }
  const alg = provider.privateKeyAlgorithm;
  // The library's own messages are dropped: they could quote key material.
  const unusable = (): ConfigError =>
    new ConfigError([
      `${setting} ${file} does not hold a private ${alg} key (a private JWK or a PKCS#8 PEM "-----BEGIN PRIVATE KEY-----"). Fix: use the private half of the key registered with the provider, and set privateKeyAlgorithm to its algorithm.`,
    ]);
  // jose is loaded by openid-client already.
  const { importJWK, importPKCS8 } = await import('jose');
  if (text.startsWith('{')) {
    let jwk: JWK;
    let key: Awaited<ReturnType<typeof importJWK>>;
    try {
      jwk = JSON.parse(text) as JWK;
      key = await importJWK(jwk, alg);
    } catch {
      throw unusable();
    }
    if (key instanceof Uint8Array || key.type !== 'private') throw unusable();
    return lib.PrivateKeyJwt(jwk.kid === undefined ? key : { key, kid: jwk.kid });
  }
  try {
    return lib.PrivateKeyJwt(await importPKCS8(text, alg));
  } catch {
    throw unusable();
  }
}
