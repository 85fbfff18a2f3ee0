import { isUntrustedCertificate } from '../http/untrusted-certificate.js';

/**
 * A GET of a URL the user named (a JWKS), bounded the way a server-side fetch of a user's URL
 * must be: in time (headers and body together), in size (the body is read as a stream and
 * dropped past the limit, never buffered whole), and without following redirects.
 */

/** The fetch did not get a usable answer; `reason` is written for the user, names no library. */
export class FetchTextError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'FetchTextError';
  }
}

export interface FetchTextOptions {
  timeoutMs: number;
  maxBytes: number;
}

export async function fetchText(
  url: URL,
  options: FetchTextOptions,
): Promise<{ status: number; text: string }> {
  const signal = AbortSignal.timeout(options.timeoutMs);
  let res: Response;
  try {
    res = await fetch(url, { signal, redirect: 'manual' });
  } catch (error) {
    throw new FetchTextError(
      signal.aborted
        ? `no answer within ${options.timeoutMs / 1000} s`
        : describeFetchFailure(error),
    );
  }
  // A redirect could lead anywhere (SSRF through an open redirect): the URL must be the final one.
  if (res.status >= 300 && res.status < 400) {
    await res.body?.cancel().catch(() => undefined);
    throw new FetchTextError(`answered ${res.status}, a redirect, which is not followed`);
  }
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > options.maxBytes) {
    await res.body?.cancel().catch(() => undefined);
    throw new FetchTextError(`answered with more than ${options.maxBytes / 1024} KiB`);
  }
  const chunks: Uint8Array[] = [];
  let length = 0;
  // Node's fetch types its body stream loosely: the chunks are bytes.
  const reader = res.body?.getReader() as ReadableStreamDefaultReader<Uint8Array> | undefined;
  try {
    for (;;) {
      const next = await reader?.read();
      if (next === undefined || next.done) break;
      length += next.value.byteLength;
      if (length > options.maxBytes) {
        await reader?.cancel().catch(() => undefined);
        throw new FetchTextError(`answered with more than ${options.maxBytes / 1024} KiB`);
      }
      chunks.push(next.value);
    }
  } catch (error) {
    if (error instanceof FetchTextError) throw error;
    throw new FetchTextError(
      signal.aborted
        ? `sent no complete answer within ${options.timeoutMs / 1000} s`
        : 'broke off its answer',
    );
  }
  return { status: res.status, text: Buffer.concat(chunks).toString('utf8') };
}

/** What went wrong, from undici's error and its cause (`fetch failed` alone says nothing). */
export function describeFetchFailure(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown } }).cause;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  if (isUntrustedCertificate(code)) {
    // Never fetched unverified; Node adds a CA to the ones it trusts from this variable.
    return `its certificate is not trusted (${code}): to trust a private CA, start bulwark with NODE_EXTRA_CA_CERTS set to the CA's certificate file`;
  }
  switch (code) {
    case 'ECONNREFUSED':
      return 'the connection was refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'the host name does not resolve';
    case undefined:
      return 'it could not be reached';
    default:
      return `it could not be reached (${code})`;
  }
}

/** What became of fetching a JWKS URL the user gave; each caller words the failures its way. */
export type JwksFetch =
  | { ok: true; text: string }
  | { ok: false; problem: 'not-a-url' | 'not-http' | 'credentials' }
  | { ok: false; problem: 'unreachable'; url: URL; reason: string }
  | { ok: false; problem: 'status'; url: URL; status: number }
  /** A 2xx with nothing in it: key material that verifiers would read as none given. */
  | { ok: false; problem: 'empty'; url: URL };

/**
 * A JWKS URL the user gave, checked without asking it: http or https only, without a user name
 * or password (fetch would refuse it with an error quoting the URL whole, and a JWKS is public).
 */
export function jwksUrl(
  text: string,
): { ok: true; url: URL } | { ok: false; problem: 'not-a-url' | 'not-http' | 'credentials' } {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { ok: false, problem: 'not-a-url' };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    return { ok: false, problem: 'not-http' };
  if (url.username !== '' || url.password !== '') return { ok: false, problem: 'credentials' };
  return { ok: true, url };
}

/**
 * Fetches a JWKS URL the user gave, checked as jwksUrl does, bounded as fetchText is, 2xx with a
 * body only.
 */
export async function fetchJwks(text: string, options: FetchTextOptions): Promise<JwksFetch> {
  const checked = jwksUrl(text);
  if (!checked.ok) return checked;
  const { url } = checked;
  let answer: { status: number; text: string };
  try {
    answer = await fetchText(url, options);
  } catch (error) {
    if (error instanceof FetchTextError)
      return { ok: false, problem: 'unreachable', url, reason: error.reason };
    throw error;
  }
  if (answer.status < 200 || answer.status >= 300)
    return { ok: false, problem: 'status', url, status: answer.status };
  if (answer.text.trim() === '') return { ok: false, problem: 'empty', url };
  return { ok: true, text: answer.text };
}
