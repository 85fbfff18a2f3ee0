import { LRUCache } from 'lru-cache';
import * as client from 'openid-client';
import { isLoopbackHost } from '../config/loopback.js';
import { boundedFetch, ResponseTooLargeError } from '../http/bounded-fetch.js';
import { describeFetchFailure, fetchText } from './fetch-text.js';
import {
  InspectInputError,
  inspectJwt,
  type InspectFinding,
  type InspectResult,
} from './jwt-inspect.js';
import { plainRemoteEndpoints, providerChecks } from './provider-checks.js';
import { shownUrl } from './shown-url.js';

/**
 * The OIDC playground: runs a real authorization code flow with PKCE (S256), state and nonce
 * against any provider, and shows each step and what the provider got right or wrong. The client
 * secret, PKCE verifier and nonce stay in this process; only the authorization URL goes to the
 * browser, and the tokens come back in the result page's body, never in a URL.
 */

const PROVIDER_TIMEOUT_SECONDS = 10;
/**
 * The largest answer read from a provider (discovery, JWKS, token, UserInfo), after
 * decompression: real ones are a few KiB; a hostile issuer's gzip bomb would otherwise be
 * inflated into memory for the whole time limit.
 */
const MAX_PROVIDER_RESPONSE_BYTES = 1024 * 1024;
const FLOW_TTL_MS = 10 * 60_000;
const MAX_FLOWS = 100;

export interface StartInput {
  issuer: string;
  clientId: string;
  clientSecret?: string;
  /** How the client authenticates with its secret (default client_secret_basic, the OIDC default). */
  clientAuth?: 'client_secret_basic' | 'client_secret_post';
  scope?: string;
}

interface Flow {
  config: client.Configuration;
  issuer: string;
  clientId: string;
  redirectUri: string;
  codeVerifier: string;
  nonce: string;
  state: string;
  scope: string;
  checks: InspectFinding[];
}

export interface PlaygroundResult {
  ok: boolean;
  issuer: string;
  clientId: string;
  redirectUri: string;
  /** What the provider's discovery document and its answers showed. */
  checks: InspectFinding[];
  /** The error, when the flow failed (the provider's `error`, or what went wrong here). */
  error?: { code: string; description: string };
  tokenResponse?: { token_type: string; expires_in?: number; scope?: string };
  idToken?: string;
  idTokenClaims?: Record<string, unknown>;
  idTokenInspection?: InspectResult;
  accessToken?: string;
  userInfo?: Record<string, unknown> | { error: string };
}

/** Bad playground input (an issuer that is not a URL, an unknown state): a 400 for the user. */
export class PlaygroundInputError extends Error {
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
    this.name = 'PlaygroundInputError';
  }
}

function describeError(error: unknown): { code: string; description: string } {
  // The library wraps a body cut off as a parse error: say what happened instead.
  for (let cause = error, depth = 0; cause instanceof Error && depth < 5; depth++) {
    if (cause instanceof ResponseTooLargeError)
      return { code: 'response_too_large', description: `The provider ${cause.message}.` };
    cause = cause.cause;
  }
  if (error instanceof client.AuthorizationResponseError) {
    return {
      code: error.error,
      description: error.error_description ?? 'The provider refused the authorization.',
    };
  }
  if (error instanceof client.ResponseBodyError) {
    return {
      code: error.error,
      description: error.error_description ?? `The token endpoint answered ${error.status}.`,
    };
  }
  // undici's network failure: its message is `fetch failed` whatever happened; the cause says.
  if (error instanceof TypeError && error.message === 'fetch failed') {
    return { code: 'unreachable', description: describeFetchFailure(error) };
  }
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : 'unknown error';
  return { code: typeof code === 'string' ? code : 'error', description: message };
}

export class OidcPlayground {
  // One local process: flows live in a bounded, expiring cache (nothing is shared between instances).
  private readonly flows = new LRUCache<string, Flow>({ max: MAX_FLOWS, ttl: FLOW_TTL_MS });

  constructor(private readonly redirectUri: string) {}

  /** Discovers the provider and returns the authorization URL to send the browser to. */
  async start(input: StartInput): Promise<{ authorizationUrl: string; checks: InspectFinding[] }> {
    let issuer: URL;
    try {
      issuer = new URL(input.issuer);
    } catch {
      throw new PlaygroundInputError('The issuer is not a URL.', 'issuer');
    }
    if (
      issuer.protocol !== 'https:' &&
      !(issuer.protocol === 'http:' && isLoopbackHost(issuer.hostname))
    ) {
      throw new PlaygroundInputError(
        'The issuer must be https (plain http only on loopback, for a test provider).',
        'issuer',
      );
    }
    // Discovery would fail on them with an error quoting the URL whole, which the page shows.
    if (issuer.username !== '' || issuer.password !== '') {
      throw new PlaygroundInputError(
        'The issuer must not contain a user name or password.',
        'issuer',
      );
    }
    const auth = !input.clientSecret
      ? client.None()
      : input.clientAuth === 'client_secret_post'
        ? client.ClientSecretPost(input.clientSecret)
        : client.ClientSecretBasic(input.clientSecret);
    let config: client.Configuration;
    try {
      config = await client.discovery(issuer, input.clientId, undefined, auth, {
        timeout: PROVIDER_TIMEOUT_SECONDS,
        // Kept by the configuration for every later request: JWKS, token, UserInfo.
        [client.customFetch]: boundedFetch(MAX_PROVIDER_RESPONSE_BYTES),
        execute: issuer.protocol === 'http:' ? [client.allowInsecureRequests] : [],
      });
    } catch (error) {
      const { description } = describeError(error);
      // The URL discovery asked (the path appended, the query kept), as shownUrl shows it: an
      // issuer's query may carry a key.
      const asked = new URL(issuer);
      asked.pathname = `${issuer.pathname.replace(/\/$/, '')}/.well-known/openid-configuration`;
      throw new PlaygroundInputError(
        `Discovery at ${shownUrl(asked)} failed: ${description}`,
        'issuer',
      );
    }
    client.enableNonRepudiationChecks(config);
    // Plain http is opted into for the whole configuration: without this, a loopback issuer's
    // metadata could send the browser's login, the code, the client secret and the tokens over
    // plain http to another host (the "https" check would only flag it afterwards).
    if (issuer.protocol === 'http:') {
      const remote = plainRemoteEndpoints(config.serverMetadata());
      if (remote.length > 0) {
        throw new PlaygroundInputError(
          `A plain-http test provider on loopback must keep its endpoints on loopback or https; its metadata names ${remote.map((u) => shownUrl(u)).join(', ')}.`,
          'issuer',
        );
      }
    }
    const checks = providerChecks(config.serverMetadata(), issuer);
    const codeVerifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const scope = input.scope?.trim() || 'openid email profile';
    const codeChallenge = await client.calculatePKCECodeChallenge(codeVerifier);
    let url: URL;
    try {
      url = client.buildAuthorizationUrl(config, {
        redirect_uri: this.redirectUri,
        scope,
        code_challenge: codeChallenge,
        code_challenge_method: 'S256',
        state,
        nonce,
      });
    } catch {
      // No URL, or not http(s): `javascript:…` would run in the page that follows it.
      throw new PlaygroundInputError(
        "The provider's authorization_endpoint is not an http or https URL.",
        'issuer',
      );
    }
    this.flows.set(state, {
      config,
      issuer: issuer.href,
      clientId: input.clientId,
      redirectUri: this.redirectUri,
      codeVerifier,
      nonce,
      state,
      scope,
      checks,
    });
    return { authorizationUrl: url.href, checks };
  }

  /** Completes the flow the provider redirected back to `callbackUrl`; never throws for the provider's faults. */
  async finish(callbackUrl: URL): Promise<PlaygroundResult> {
    const state = callbackUrl.searchParams.get('state');
    const flow = state === null ? undefined : this.flows.get(state);
    if (state === null || flow === undefined) {
      throw new PlaygroundInputError(
        'This sign-in is unknown or older than 10 minutes: start again from the playground.',
        'state',
      );
    }
    // One use: a replayed callback finds nothing.
    this.flows.delete(state);
    const base = { issuer: flow.issuer, clientId: flow.clientId, redirectUri: flow.redirectUri };
    const checks = [...flow.checks];
    let tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>;
    try {
      tokens = await client.authorizationCodeGrant(flow.config, callbackUrl, {
        pkceCodeVerifier: flow.codeVerifier,
        expectedState: flow.state,
        expectedNonce: flow.nonce,
        idTokenExpected: true,
      });
    } catch (error) {
      return { ok: false, ...base, checks, error: describeError(error) };
    }
    const idToken = tokens.id_token;
    const claims = tokens.claims();
    checks.push({
      check: 'id-token',
      status: 'pass',
      message: 'The ID token verified: signature (provider JWKS), iss, aud, exp, iat and nonce.',
    });
    let idTokenInspection: InspectResult | undefined;
    if (idToken !== undefined) {
      const jwks = await fetchJwks(flow.config).catch(() => undefined);
      const lint = (key?: { jwks: string }): Promise<InspectResult> =>
        inspectJwt(idToken, {
          issuer: claims?.iss ?? flow.issuer,
          audience: flow.clientId,
          clockToleranceSeconds: 30,
          ...(key === undefined ? {} : { key }),
        });
      try {
        idTokenInspection = await lint(jwks === undefined ? undefined : { jwks });
      } catch (error) {
        // The token verified above, so it is the provider's key set the verifier refuses (not
        // JSON, or with private or secret members): the provider's fault, shown as a check.
        if (!(error instanceof InspectInputError)) throw error;
        checks.push({
          check: 'jwks',
          status: 'fail',
          message: `The provider's JWKS is not one the JWT verifier accepts (${error.message}); the ID token was linted without it.`,
        });
        idTokenInspection = await lint();
      }
    }
    let userInfo: PlaygroundResult['userInfo'];
    if (claims?.sub !== undefined && flow.config.serverMetadata().userinfo_endpoint !== undefined) {
      try {
        userInfo = {
          ...(await client.fetchUserInfo(flow.config, tokens.access_token, claims.sub)),
        };
      } catch (error) {
        userInfo = { error: describeError(error).description };
      }
    }
    return {
      ok: true,
      ...base,
      checks,
      tokenResponse: {
        token_type: tokens.token_type,
        ...(tokens.expires_in === undefined ? {} : { expires_in: tokens.expires_in }),
        ...(tokens.scope === undefined ? {} : { scope: tokens.scope }),
      },
      ...(idToken === undefined ? {} : { idToken }),
      ...(claims === undefined ? {} : { idTokenClaims: { ...claims } }),
      ...(idTokenInspection === undefined ? {} : { idTokenInspection }),
      accessToken: tokens.access_token,
      ...(userInfo === undefined ? {} : { userInfo }),
    };
  }
}

/** The provider's JWKS as JSON text, for the ID token inspection (bounded in time and size). */
async function fetchJwks(config: client.Configuration): Promise<string | undefined> {
  const uri = config.serverMetadata().jwks_uri;
  if (uri === undefined) return undefined;
  const answer = await fetchText(new URL(uri), {
    timeoutMs: PROVIDER_TIMEOUT_SECONDS * 1000,
    maxBytes: 256 * 1024,
  });
  return answer.status >= 200 && answer.status < 300 ? answer.text : undefined;
}
