import type { FastifyRequest, RouteOptions, preHandlerHookHandler } from 'fastify';

type Part = 'params' | 'querystring' | 'body';
const PARTS: readonly Part[] = ['params', 'querystring', 'body'];
const URN_PREFIX = /^urn:uuid:/i;

/**
 * The one spelling of a UUID that ids are stored and compared in: lower-case hex, without the
 * `urn:uuid:` prefix that the `uuid` format also accepts.
 * @see https://www.rfc-editor.org/rfc/rfc9562#section-4
 */
export function canonicalUuid(value: string): string {
  return value.replace(URN_PREFIX, '').toLowerCase();
}

function isUuidSchema(schema: unknown): boolean {
  if (typeof schema !== 'object' || schema === null) return false;
  const node = schema as { format?: unknown; anyOf?: unknown[]; oneOf?: unknown[] };
  if (node.format === 'uuid') return true;
  return [...(node.anyOf ?? []), ...(node.oneOf ?? [])].some(isUuidSchema);
}

/** The top-level properties of an object schema that are declared as `format: "uuid"`. */
function uuidProperties(schema: unknown): string[] {
  if (typeof schema !== 'object' || schema === null) return [];
  const properties = (schema as { properties?: Record<string, unknown> }).properties;
  if (typeof properties !== 'object' || properties === null) return [];
  return Object.keys(properties).filter((name) => isUuidSchema(properties[name]));
}

function partOf(request: FastifyRequest, part: Part): unknown {
  return part === 'params' ? request.params : part === 'querystring' ? request.query : request.body;
}

/**
 * RFC 9562 makes UUID input case-insensitive, but ids are stored lower-case and compared exactly
 * (SQL equality): an upper-case id passed validation and then matched nothing, a false 404 (and
 * a false access.denied event) or an empty audit filter. So every `format: "uuid"` field of a
 * route's params, querystring or body is rewritten to {@link canonicalUuid} right after
 * validation (a preHandler put first), once for all routes instead of in each service.
 */
export function canonicalizeUuidFields(route: RouteOptions): void {
  const fields = PARTS.map((part) => [part, uuidProperties(route.schema?.[part])] as const).filter(
    ([, names]) => names.length > 0,
  );
  if (fields.length === 0) return;
  const hook: preHandlerHookHandler = (request, _reply, done) => {
    for (const [part, names] of fields) {
      const values = partOf(request, part);
      if (typeof values !== 'object' || values === null) continue;
      const record = values as Record<string, unknown>;
      for (const name of names) {
        const value = record[name];
        if (typeof value === 'string') record[name] = canonicalUuid(value);
      }
    }
    done();
  };
  const existing = route.preHandler;
  route.preHandler =
    existing === undefined ? [hook] : [hook, ...(Array.isArray(existing) ? existing : [existing])];
}
