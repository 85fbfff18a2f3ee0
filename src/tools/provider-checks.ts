import type * as client from 'openid-client';
import { isLoopbackHost } from '../config/loopback.js';
import type { InspectFinding } from './jwt-inspect.js';

// What the OIDC playground checks in a provider's discovery document, before any flow starts.

/**
 * The strings of a metadata list. Discovery hands over the provider's JSON without checking its
 * types: a list may be a string, null, or hold anything.
 */
const listed = (value: unknown): string[] | undefined =>
  Array.isArray(value)
    ? value.filter((item): item is string => typeof item === 'string')
    : undefined;

export function providerChecks(metadata: client.ServerMetadata, requested: URL): InspectFinding[] {
  const checks: InspectFinding[] = [];
  const add = (check: string, status: InspectFinding['status'], message: string): void => {
    checks.push({ check, status, message });
  };
  const methods = listed(metadata.code_challenge_methods_supported);
  if (methods === undefined)
    add(
      'pkce',
      'warn',
      'The provider does not list code_challenge_methods_supported; PKCE S256 is sent anyway.',
    );
  else if (methods.includes('S256')) add('pkce', 'pass', 'PKCE S256 is supported.');
  else add('pkce', 'fail', `PKCE S256 is not supported (only ${methods.join(', ') || 'nothing'}).`);
  const algs = listed(metadata.id_token_signing_alg_values_supported) ?? [];
  if (algs.includes('none'))
    add('id-token-alg', 'fail', 'The provider offers unsigned ID tokens (alg none).');
  else if (algs.length > 0 && algs.every((alg) => alg.startsWith('HS')))
    add(
      'id-token-alg',
      'warn',
      `ID tokens are signed with a shared secret only (${algs.join(', ')}).`,
    );
  else
    add(
      'id-token-alg',
      'pass',
      `ID tokens are signed with ${algs.join(', ') || 'RS256 (the default)'}.`,
    );
  const endpoints = [
    metadata.authorization_endpoint,
    metadata.token_endpoint,
    metadata.jwks_uri,
  ].filter((u): u is string => typeof u === 'string');
  const plain = endpoints.filter((u) => {
    if (!URL.canParse(u)) return true;
    const url = new URL(u);
    return url.protocol !== 'https:' && !isLoopbackHost(url.hostname);
  });
  if (plain.length > 0) add('https', 'fail', `Endpoints not on HTTPS: ${plain.join(', ')}.`);
  else if (requested.protocol === 'http:')
    add('https', 'warn', 'A plain-HTTP provider on loopback: fine for a test provider only.');
  else add('https', 'pass', 'Every endpoint is HTTPS.');
  const types = listed(metadata.response_types_supported) ?? [];
  if (types.includes('code'))
    add('response-type', 'pass', 'The authorization code flow is supported.');
  else
    add(
      'response-type',
      'fail',
      `The provider does not list response type "code" (${types.join(', ')}).`,
    );
  if (types.some((t) => t.split(' ').includes('token'))) {
    add(
      'implicit',
      'warn',
      'The provider still offers the implicit flow (tokens in the URL fragment); OAuth 2.0 Security BCP says not to use it.',
    );
  }
  if (metadata.authorization_response_iss_parameter_supported === true)
    add(
      'iss-parameter',
      'pass',
      'Authorization responses carry iss (RFC 9207), which stops mix-up attacks.',
    );
  else
    add(
      'iss-parameter',
      'warn',
      'Authorization responses do not carry iss (RFC 9207): a client talking to several providers must guard against mix-up attacks itself.',
    );
  return checks;
}

/**
 * The endpoints the flow uses that are plain http and not on loopback. (Other schemes and
 * non-URLs are refused by openid-client when it comes to them, and flagged by the checks.)
 */
export function plainRemoteEndpoints(metadata: client.ServerMetadata): string[] {
  return [
    metadata.authorization_endpoint,
    metadata.token_endpoint,
    metadata.userinfo_endpoint,
    metadata.jwks_uri,
  ].filter((u): u is string => {
    if (typeof u !== 'string' || !URL.canParse(u)) return false;
    const url = new URL(u);
    return url.protocol === 'http:' && !isLoopbackHost(url.hostname);
  });
}
