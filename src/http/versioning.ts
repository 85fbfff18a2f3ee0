import type { IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { LATEST_API_VERSION, SUPPORTED_API_VERSIONS, type Config } from '../config/index.js';
import { AppError } from '../errors.js';

/** Marks a raw request whose API-Version cannot be served; the hook below rejects it. */
const kBadVersion = Symbol('bulwark.badApiVersion');

interface TaggedRequest extends IncomingMessage {
  [kBadVersion]?: true;
}

const VERSIONED = /^\/api\/v([1-9][0-9]{0,3})(?=\/|$)/;
const UNVERSIONED = /^\/api(?=\/|$)/;
const HEADER_VALUE = /^v?([1-9][0-9]{0,3})$/;

const ABSOLUTE_FORM = /^https?:\/\/[^/?#]*/i;
/** A percent-encoded unreserved character (RFC 3986 §2.3): ALPHA, DIGIT, `-`, `.`, `_`, `~`. */
const UNRESERVED_ESCAPE = /%(?:[46][1-9A-Fa-f]|[57][0-9Aa]|3[0-9]|2[DEde]|5[Ff]|7[Ee])/g;
const STRAY_PERCENT = /%(?![0-9A-Fa-f]{2})/;

/**
 * The path and query of a request target, the path as the router matches it (find-my-way with
 * ignoreDuplicateSlashes): an absolute-form target's path, runs of `/` collapsed, and
 * percent-encoded unreserved characters decoded (RFC 3986 §6.2.2.2: `%61` is `a`); `%2F` stays
 * encoded, as for the router. Version routing and the sunset decide on this path: on the raw
 * target, `//api/v1/…`, `/%61pi/v1/…` or `http://host/api/v1/…` reached the v1 routes with no
 * deprecation headers, and no 410 after the sunset.
 * @see https://www.rfc-editor.org/rfc/rfc9112#section-3.2.2
 */
export function routedPath(url: string): { path: string; query: string } {
  let target = url;
  if (!target.startsWith('/')) {
    const authority = ABSOLUTE_FORM.exec(target);
    // Anything else is never routed (asterisk-form, or refused as a malformed URL).
    if (authority === null) return { path: target, query: '' };
    target = target.slice(authority[0].length);
  }
  const end = target.search(/[?#]/);
  let path = end === -1 ? target : target.slice(0, end);
  const query = end === -1 ? '' : target.slice(end);
  if (path === '') path = '/';
  if (path.includes('//')) path = path.replace(/\/{2,}/g, '/');
  // A stray `%` makes the router refuse the URL (400): left as it is, so decoding cannot turn
  // `%%34%31` into a new escape `%41` that the router would then decode a second time.
  if (path.includes('%') && !STRAY_PERCENT.test(path)) {
    path = path.replace(UNRESERVED_ESCAPE, (escape) =>
      String.fromCharCode(parseInt(escape.slice(1), 16)),
    );
  }
  return { path, query };
}

/**
 * Fastify `rewriteUrl`: `/api/<path>` without a version goes to the version the `API-Version`
 * header names (`1` or `v1`), or to the latest stable one when the header is absent. Runs before
 * routing, so it may only rewrite; an unservable version is tagged and rejected in onRequest.
 */
export function rewriteApiVersion(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const { path, query } = routedPath(url);
  if (!path.startsWith('/api') || VERSIONED.test(path) || !UNVERSIONED.test(path)) return url;
  const header = req.headers['api-version'];
  let version = LATEST_API_VERSION;
  if (header !== undefined) {
    const match = typeof header === 'string' ? HEADER_VALUE.exec(header.trim()) : null;
    if (!match || !SUPPORTED_API_VERSIONS.includes(Number(match[1]))) {
      (req as TaggedRequest)[kBadVersion] = true;
      return url;
    }
    version = Number(match[1]);
  }
  return `/api/v${version}${path.slice('/api'.length)}${query}`;
}

interface VersionPolicy {
  headers: Record<string, string>;
  sunsetAt: number | undefined;
}

function policies(config: Config['api']): Map<number, VersionPolicy> {
  const out = new Map<number, VersionPolicy>();
  for (const [key, entry] of Object.entries(config.deprecations)) {
    const headers: Record<string, string> = {
      // RFC 9745: an IMF structured-field date, "@" followed by Unix seconds.
      deprecation: `@${Math.floor(Date.parse(entry.deprecatedAt) / 1000)}`,
    };
    // RFC 8594: an HTTP-date.
    if (entry.sunsetAt !== undefined) headers.sunset = new Date(entry.sunsetAt).toUTCString();
    if (entry.successor !== undefined)
      headers.link = `<${entry.successor}>; rel="successor-version"`;
    out.set(Number(key), {
      headers,
      sunsetAt: entry.sunsetAt === undefined ? undefined : Date.parse(entry.sunsetAt),
    });
  }
  return out;
}

/**
 * Rejects unsupported versions and marks deprecated ones: `Deprecation` (RFC 9745), `Sunset`
 * (RFC 8594) and `Link rel="successor-version"`; after its sunset a version answers 410.
 * @see https://www.rfc-editor.org/rfc/rfc9745
 * @see https://www.rfc-editor.org/rfc/rfc8594
 */
export const apiVersioning = fp(
  function apiVersioning(
    app: FastifyInstance,
    opts: { config: Config['api']; now?: () => number },
  ): void {
    const byVersion = policies(opts.config);
    const now = opts.now ?? Date.now;
    app.addHook('onRequest', (request, reply, done) => {
      if ((request.raw as TaggedRequest)[kBadVersion]) {
        done(
          new AppError(
            'unsupported_api_version',
            `API-Version must be one of ${SUPPORTED_API_VERSIONS.map((v) => `${v} (or v${v})`).join(', ')}.`,
          ),
        );
        return;
      }
      const match = VERSIONED.exec(routedPath(request.url).path);
      if (!match) {
        done();
        return;
      }
      const version = Number(match[1]);
      if (!SUPPORTED_API_VERSIONS.includes(version)) {
        done(new AppError('unsupported_api_version', `API version v${version} does not exist.`));
        return;
      }
      reply.header('api-version', String(version));
      const policy = byVersion.get(version);
      if (policy) {
        reply.headers(policy.headers);
        if (policy.sunsetAt !== undefined && now() >= policy.sunsetAt) {
          done(new AppError('api_version_sunset', `API version v${version} has been retired.`));
          return;
        }
      }
      done();
    });
  },
  { name: 'bulwark-api-versioning' },
);
