/**
 * `--auth-header`: the header an API takes its token in when it is not `Authorization: Bearer`
 * (`X-API-Key`). Its own module, so the CLI checks the name without loading the scanner.
 */

/**
 * Headers the scan sets itself, or that frame the request: the token cannot go in them.
 * `Authorization` is the default (with `Bearer`), and `Cookie` would need a name=value.
 */
const RESERVED_HEADERS: ReadonlySet<string> = new Set([
  'accept',
  'access-control-request-headers',
  'access-control-request-method',
  'connection',
  'content-length',
  'content-type',
  'cookie',
  'expect',
  'host',
  'keep-alive',
  'origin',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'user-agent',
]);

/** An HTTP field name: RFC 9110 §5.1's token, bounded (one class, anchored: linear). */
const FIELD_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/;

/**
 * What is wrong with `name` as the header to send the token in ("must be a header name …"), or
 * undefined when it will do.
 */
export function authHeaderProblem(name: string): string | undefined {
  if (!FIELD_NAME.test(name)) {
    return `must be a header name such as X-API-Key (letters, digits, "-"), not "${name.slice(0, 64)}"`;
  }
  const lower = name.toLowerCase();
  if (lower === 'authorization')
    return 'Authorization is the default (Authorization: Bearer TOKEN): leave it out';
  if (RESERVED_HEADERS.has(lower)) return `cannot be ${name}: the scan sets that header itself`;
  return undefined;
}
