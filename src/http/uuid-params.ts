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

/** What the `uuid` format accepts (ajv-formats), so a value is rewritten only when it is one. */
const UUID = /^(?:urn:uuid:)?[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}$/i;

/** Rewrites the UUIDs inside a validated value in place; returns the value (or a new string). */
type Rewrite = (value: unknown) => unknown;

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Deeper than any real request schema; a bound for schemas that nest without end. */
const MAX_DEPTH = 32;

/**
 * The rewrite for the values a schema describes, or undefined when it declares no `format:
 * "uuid"` anywhere: the uuid strings themselves, object properties (declared, and
 * `additionalProperties`), array items (`items`, `prefixItems`) and every branch of
 * `anyOf`/`oneOf`/`allOf`, at any depth. A value is rewritten only when it is a UUID, so a string
 * that matched another branch of a union is left alone. `$ref`s are not followed.
 */
function compileRewrite(schema: unknown, depth = 0): Rewrite | undefined {
  if (depth > MAX_DEPTH || typeof schema !== 'object' || schema === null) return undefined;
  const node = schema as {
    format?: unknown;
    properties?: unknown;
    additionalProperties?: unknown;
    items?: unknown;
    prefixItems?: unknown;
    anyOf?: unknown;
    oneOf?: unknown;
    allOf?: unknown;
  };
  const rewrites: Rewrite[] = [];
  if (node.format === 'uuid') {
    rewrites.push((value) =>
      typeof value === 'string' && UUID.test(value) ? canonicalUuid(value) : value,
    );
  }
  const declared = isRecord(node.properties) ? node.properties : {};
  const properties = Object.entries(declared)
    .map(([name, sub]) => [name, compileRewrite(sub, depth + 1)] as const)
    .filter((entry): entry is readonly [string, Rewrite] => entry[1] !== undefined);
  const extra = compileRewrite(node.additionalProperties, depth + 1);
  if (properties.length > 0 || extra !== undefined) {
    rewrites.push((value) => {
      if (!isRecord(value)) return value;
      for (const [name, rewrite] of properties) {
        if (Object.hasOwn(value, name)) value[name] = rewrite(value[name]);
      }
      if (extra !== undefined) {
        for (const name of Object.keys(value)) {
          if (!Object.hasOwn(declared, name)) value[name] = extra(value[name]);
        }
      }
      return value;
    });
  }
  const items = Array.isArray(node.prefixItems)
    ? node.prefixItems.map((sub) => compileRewrite(sub, depth + 1))
    : [];
  const rest = compileRewrite(node.items, depth + 1);
  if (items.some((rewrite) => rewrite !== undefined) || rest !== undefined) {
    rewrites.push((value) => {
      if (!Array.isArray(value)) return value;
      const list = value as unknown[];
      for (let i = 0; i < list.length; i++) {
        const rewrite = i < items.length ? items[i] : rest;
        if (rewrite !== undefined) list[i] = rewrite(list[i]);
      }
      return list;
    });
  }
  for (const branches of [node.anyOf, node.oneOf, node.allOf]) {
    if (!Array.isArray(branches)) continue;
    for (const branch of branches) {
      const rewrite = compileRewrite(branch, depth + 1);
      if (rewrite !== undefined) rewrites.push(rewrite);
    }
  }
  if (rewrites.length === 0) return undefined;
  if (rewrites.length === 1) return rewrites[0];
  return (value) => rewrites.reduce((current, rewrite) => rewrite(current), value);
}

function partOf(request: FastifyRequest, part: Part): unknown {
  return part === 'params' ? request.params : part === 'querystring' ? request.query : request.body;
}

/**
 * RFC 9562 makes UUID input case-insensitive, but ids are stored lower-case and compared exactly
 * (SQL equality): an upper-case id passed validation and then matched nothing, a false 404 (and
 * a false access.denied event) or an empty audit filter. So every `format: "uuid"` value of a
 * route's params, querystring or body, at any depth, is rewritten to {@link canonicalUuid} right
 * after validation (a preHandler put first), once for all routes instead of in each service.
 */
export function canonicalizeUuidFields(route: RouteOptions): void {
  const rewrites = PARTS.map(
    (part) => [part, compileRewrite(route.schema?.[part])] as const,
  ).filter((entry): entry is readonly [Part, Rewrite] => entry[1] !== undefined);
  if (rewrites.length === 0) return;
  const hook: preHandlerHookHandler = (request, _reply, done) => {
    for (const [part, rewrite] of rewrites) {
      const value = rewrite(partOf(request, part));
      // Objects and arrays are rewritten in place; only a body that is itself a uuid is new.
      if (part === 'body' && value !== request.body) request.body = value;
    }
    done();
  };
  const existing = route.preHandler;
  route.preHandler =
    existing === undefined ? [hook] : [hook, ...(Array.isArray(existing) ? existing : [existing])];
}
