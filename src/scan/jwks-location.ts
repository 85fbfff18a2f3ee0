import type { JsonWebKey } from 'node:crypto';
import { isObject } from '../tools/jwt-inspect.js';
import { shownUrl } from '../tools/shown-url.js';
import { MAX_BODY_BYTES, ProbeError, type ProbeRequest, type ScanClient } from './client.js';
import type { ProbeResponse } from './types.js';

/** Where the scan looks for the API's public keys, and what it found there. */
export interface JwksLocation {
  /** The keys, when a JWKS was found; undefined when none was. */
  keys?: JsonWebKey[];
  /** Where they came from, as findings show it: a path under the base, or a whole URL. */
  where?: string;
  /** Why none was found: each place tried, and what it answered. */
  problem?: string;
}

/** The usual place (RFC 8414 §3 names it for OAuth servers; Bulwark serves it). */
const DEFAULT_PATH = '/.well-known/jwks.json';
/** OpenID Connect Discovery 1.0 §4: the provider's metadata, whose `jwks_uri` names the keys. */
const OIDC_CONFIGURATION_PATH = '/.well-known/openid-configuration';

type Fetch = (probe: ProbeRequest) => Promise<ProbeResponse>;

/** A probe of a path under the base, or of a URL (shown without its credentials or query values). */
function probeOf(where: string | URL): ProbeRequest {
  if (typeof where === 'string') return { path: where, maxBodyBytes: MAX_BODY_BYTES };
  return { url: where, path: shownUrl(where), maxBodyBytes: MAX_BODY_BYTES };
}

/** The keys of a JWKS answer, or what is wrong with it. */
function readJwks(res: ProbeResponse, shown: string): { keys: JsonWebKey[] } | { problem: string } {
  if (res.status < 200 || res.status >= 300) return { problem: `${shown} answered ${res.status}` };
  if (res.truncated)
    return { problem: `${shown} is larger than ${MAX_BODY_BYTES / 1024} KiB, more than any JWKS` };
  let body: unknown;
  try {
    body = JSON.parse(res.body) as unknown;
  } catch {
    return { problem: `${shown} is not JSON` };
  }
  if (!isObject(body) || !Array.isArray(body.keys))
    return { problem: `${shown} is not a JWKS (no "keys" array)` };
  return { keys: (body.keys as unknown[]).filter(isObject) };
}

/**
 * Finds the JWKS: at `jwksUrl` when the user gave one (a path under the base, or an absolute URL
 * on any origin: their explicit choice); else at /.well-known/jwks.json under the base, and when
 * that has none, at the `jwks_uri` of /.well-known/openid-configuration, but only on the
 * target's own origin. A scan sends to the target only unless told otherwise: a discovery
 * document is the target's word, and a hostile or mistaken one could point the scan at any host
 * (an internal address, someone else's API). Every request is bounded and counted like the others;
 * one that gets no answer is a place with no JWKS, not the end of the scan.
 */
export async function findJwks(
  client: ScanClient,
  fetch: Fetch,
  jwksUrl: string | undefined,
): Promise<JwksLocation> {
  const tryAt = async (
    where: string | URL,
  ): Promise<{ keys?: JsonWebKey[]; shown: string; problem?: string; stalled?: boolean }> => {
    const probe = probeOf(where);
    let res: ProbeResponse;
    try {
      res = await fetch(probe);
    } catch (error) {
      if (!(error instanceof ProbeError)) throw error;
      return { shown: probe.path, problem: error.message, stalled: error.code === 'ETIMEDOUT' };
    }
    const read = readJwks(res, probe.path);
    return 'keys' in read ? { keys: read.keys, shown: probe.path } : { ...read, shown: probe.path };
  };
  const found = (at: { keys?: JsonWebKey[]; shown: string; problem?: string }): JwksLocation =>
    at.keys === undefined
      ? { problem: at.problem ?? `${at.shown} has no JWKS` }
      : { keys: at.keys, where: at.shown };

  if (jwksUrl !== undefined) {
    const given = await tryAt(jwksUrl.startsWith('/') ? jwksUrl : new URL(jwksUrl));
    return given.keys === undefined
      ? { problem: `the JWKS given with --jwks-url: ${given.problem ?? 'none'}` }
      : found(given);
  }
  const usual = await tryAt(DEFAULT_PATH);
  // A place that stalled costs a timeout; the target holding it open will likely hold the next.
  if (usual.keys !== undefined || usual.stalled) return found(usual);

  let config: ProbeResponse;
  try {
    config = await fetch(probeOf(OIDC_CONFIGURATION_PATH));
  } catch (error) {
    if (!(error instanceof ProbeError)) throw error;
    return { problem: `${usual.problem}; ${error.message}` };
  }
  const metadata = ((): unknown => {
    try {
      return JSON.parse(config.body) as unknown;
    } catch {
      return undefined;
    }
  })();
  const uri =
    config.status >= 200 && config.status < 300 && isObject(metadata)
      ? metadata.jwks_uri
      : undefined;
  if (typeof uri !== 'string') {
    return {
      problem: `${usual.problem}; ${OIDC_CONFIGURATION_PATH} ${
        config.status >= 200 && config.status < 300
          ? 'names no jwks_uri'
          : `answered ${config.status}`
      }`,
    };
  }
  let url: URL;
  try {
    url = new URL(uri, client.url(OIDC_CONFIGURATION_PATH));
  } catch {
    return { problem: `${OIDC_CONFIGURATION_PATH} names a jwks_uri that is not a URL` };
  }
  if (url.origin !== client.origin) {
    return {
      problem: `${OIDC_CONFIGURATION_PATH} names its JWKS on another origin (${shownUrl(url)}), which the scan does not fetch unless told to: give it with --jwks-url`,
    };
  }
  // Sent without credentials: a discovery document does not choose what the scan sends.
  url.username = '';
  url.password = '';
  return found(await tryAt(url));
}
