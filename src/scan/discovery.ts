import { randomUUID } from 'node:crypto';
import { setOwn } from '../config/json.js';
import { isObject } from '../tools/jwt-inspect.js';

/**
 * What the scan learns from the target's OpenAPI document: which routes need a bearer token,
 * where password login is, and what a well-formed body for it looks like.
 */
export interface Operation {
  method: string;
  path: string;
  /** Needs a bearer token (the operation's or the document's `security`, an http bearer scheme). */
  bearer: boolean;
  /**
   * The headers of the API-key schemes (`type: apiKey, in: header`) it needs, lower-case
   * (`x-api-key`): how a route protected by an API key is found for --auth-header.
   */
  apiKeyHeaders?: string[];
  /** Has `{params}` in its path or a required query parameter: not callable as it stands. */
  needsParameters: boolean;
  /** The JSON request body schema, with `$ref`s still in it. */
  jsonBody?: unknown;
}

export interface ApiDescription {
  /** Every operation, its path with `prefix` before it. */
  operations: Operation[];
  /** The path of the document's server (see serverPrefix), "" for none. */
  prefix: string;
  /** `components.schemas` etc., to resolve `$ref`s. */
  root: Record<string, unknown>;
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/**
 * What goes before every operation path: the path of the document's first server (OpenAPI 3
 * `servers[0].url`, its variables at their defaults, resolved against the document's own URL),
 * relative to the target's base path. Operation paths are relative to that server, so an API
 * documented with `servers: [{ url: "/api" }]` is probed at /api/…. The server's host is not
 * used: a document naming the production host still describes the target's routes.
 */
export function serverPrefix(value: unknown, documentUrl: URL, targetBase: URL): string {
  const server: unknown =
    isObject(value) && Array.isArray(value.servers) ? (value.servers as unknown[])[0] : undefined;
  if (!isObject(server) || typeof server.url !== 'string') return '';
  const variables = isObject(server.variables) ? server.variables : {};
  let unresolved = false;
  const template = server.url.replace(/\{([^}]{1,64})\}/g, (_match, name: string) => {
    const variable = variables[name];
    if (isObject(variable) && typeof variable.default === 'string') return variable.default;
    unresolved = true;
    return '';
  });
  // A variable without a default (invalid OpenAPI) leaves the path unknown: better none than wrong.
  if (unresolved) return '';
  let url: URL;
  try {
    url = new URL(template, documentUrl);
  } catch {
    return '';
  }
  const serverPath = url.pathname.replace(/\/+$/, '');
  const basePath = targetBase.pathname.replace(/\/+$/, '');
  return serverPath.startsWith(basePath) ? serverPath.slice(basePath.length) : serverPath;
}

/**
 * Reads an OpenAPI 3.x document; undefined when `value` is not one. `prefix` (see serverPrefix)
 * goes before every path.
 */
export function describeApi(value: unknown, prefix = ''): ApiDescription | undefined {
  if (!isObject(value) || typeof value.openapi !== 'string' || !isObject(value.paths)) {
    return undefined;
  }
  const schemes = isObject(value.components) ? value.components.securitySchemes : undefined;
  const bearerSchemes = new Set(
    Object.entries(isObject(schemes) ? schemes : {})
      .filter(
        ([, scheme]) =>
          isObject(scheme) &&
          ((scheme.type === 'http' && String(scheme.scheme).toLowerCase() === 'bearer') ||
            scheme.type === 'oauth2' ||
            scheme.type === 'openIdConnect'),
      )
      .map(([name]) => name),
  );
  // Scheme names are the document's keys: a Map, so `__proto__` or `constructor` is just a name.
  const apiKeyHeaders = new Map<string, string>();
  for (const [name, scheme] of Object.entries(isObject(schemes) ? schemes : {})) {
    if (isObject(scheme) && scheme.type === 'apiKey' && scheme.in === 'header')
      if (typeof scheme.name === 'string') apiKeyHeaders.set(name, scheme.name.toLowerCase());
  }
  /** Every requirement names a scheme: `{}` among them makes the route open to anyone. */
  const required = (security: unknown): Record<string, unknown>[] =>
    Array.isArray(security) &&
    security.length > 0 &&
    security.every((requirement) => isObject(requirement) && Object.keys(requirement).length > 0)
      ? (security as Record<string, unknown>[])
      : [];
  const usesBearer = (security: unknown): boolean =>
    required(security).some((requirement) =>
      Object.keys(requirement).some((name) => bearerSchemes.has(name)),
    );
  const keyHeaders = (security: unknown): string[] => [
    ...new Set(
      required(security).flatMap((requirement) =>
        Object.keys(requirement).flatMap((name) => apiKeyHeaders.get(name) ?? []),
      ),
    ),
  ];
  const operations: Operation[] = [];
  for (const [path, item] of Object.entries(value.paths)) {
    if (!isObject(item) || !path.startsWith('/')) continue;
    const shared: unknown[] = Array.isArray(item.parameters) ? item.parameters : [];
    for (const method of METHODS) {
      const op = item[method];
      if (!isObject(op)) continue;
      const own: unknown[] = Array.isArray(op.parameters) ? op.parameters : [];
      const parameters = [...shared, ...own];
      const requiredQuery = parameters.some(
        (p) => isObject(p) && p.in === 'query' && p.required === true,
      );
      const content =
        isObject(op.requestBody) && isObject(op.requestBody.content)
          ? op.requestBody.content
          : undefined;
      const json = content === undefined ? undefined : content['application/json'];
      operations.push({
        method: method.toUpperCase(),
        path: `${prefix}${path}`,
        bearer: usesBearer(op.security ?? value.security),
        ...((headers) => (headers.length > 0 ? { apiKeyHeaders: headers } : {}))(
          keyHeaders(op.security ?? value.security),
        ),
        needsParameters: path.includes('{') || requiredQuery,
        ...(isObject(json) && json.schema !== undefined ? { jsonBody: json.schema } : {}),
      });
    }
  }
  return { operations, prefix, root: value };
}

/**
 * A GET route that needs a bearer token (or, given `authHeader`, an API key in that header) and
 * nothing else; `…/me` first.
 */
export function findProtectedRoute(api: ApiDescription, authHeader?: string): string | undefined {
  const header = authHeader?.toLowerCase();
  const candidates = api.operations.filter(
    (op) =>
      op.method === 'GET' &&
      (header === undefined ? op.bearer : (op.apiKeyHeaders ?? []).includes(header)) &&
      !op.needsParameters,
  );
  return (candidates.find((op) => /\/me$/.test(op.path)) ?? candidates[0])?.path;
}

/** The password-login route: an open POST with a JSON body, named like one. */
export function findLoginRoute(api: ApiDescription): Operation | undefined {
  return api.operations.find(
    (op) =>
      op.method === 'POST' &&
      !op.bearer &&
      !op.needsParameters &&
      op.jsonBody !== undefined &&
      // JHipster logs in at /api/authenticate, Django REST simplejwt at /api/token/ (JSON; an
      // OAuth token endpoint takes a form, and has no JSON body here).
      /\/(login|log-in|signin|sign-in|sessions?|authenticate|token)\/?$/i.test(op.path),
  );
}

function resolveRef(root: Record<string, unknown>, ref: string): unknown {
  if (!ref.startsWith('#/')) return undefined;
  let node: unknown = root;
  for (const part of ref.slice(2).split('/')) {
    const key = part.replace(/~1/g, '/').replace(/~0/g, '~');
    node = isObject(node) ? node[key] : undefined;
  }
  return node;
}

/**
 * The most items or characters a sample is built with: a schema asking for more (a document
 * that lies, or a mistake) gets no sample rather than a scan that runs out of memory.
 */
const MAX_SAMPLE_ITEMS = 64;
const MAX_SAMPLE_LENGTH = 4096;

function sampleString(schema: Record<string, unknown>, name: string): string | undefined {
  const min = typeof schema.minLength === 'number' ? schema.minLength : 0;
  if (!(min <= MAX_SAMPLE_LENGTH)) return undefined;
  const max = typeof schema.maxLength === 'number' ? schema.maxLength : 64;
  let text: string;
  switch (schema.format) {
    case 'email':
      text = 'audit-probe@example.com';
      break;
    case 'uuid':
      return randomUUID();
    case 'date-time':
      return new Date().toISOString();
    case 'date':
      return new Date().toISOString().slice(0, 10);
    case 'uri':
    case 'url':
      return 'https://example.com/';
    default:
      text = /pass(word|phrase)?/i.test(name)
        ? 'not the password of anyone 7f3a'
        : `audit probe ${name}`.trim();
  }
  while (text.length < min) text += 'x';
  return text.slice(0, Math.max(min, Math.min(max, text.length)));
}

/**
 * A value that a JSON schema accepts, built from its required properties, formats and bounds:
 * good enough to get past validation so that the next step (a 401 for a wrong password) shows.
 * Undefined when the schema is beyond this (patterns, deep nesting).
 */
export function sampleValue(
  schema: unknown,
  root: Record<string, unknown>,
  name = '',
  depth = 0,
): unknown {
  if (depth > 6 || !isObject(schema)) return undefined;
  if (typeof schema.$ref === 'string') {
    return sampleValue(resolveRef(root, schema.$ref), root, name, depth + 1);
  }
  if (schema.const !== undefined) return schema.const;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0];
  if (schema.example !== undefined) return schema.example;
  if (Array.isArray(schema.examples) && schema.examples.length > 0) return schema.examples[0];
  for (const key of ['anyOf', 'oneOf', 'allOf'] as const) {
    const branches = schema[key];
    if (Array.isArray(branches) && branches.length > 0) {
      return sampleValue(branches[0], root, name, depth + 1);
    }
  }
  const type: unknown = Array.isArray(schema.type) ? (schema.type as unknown[])[0] : schema.type;
  switch (type) {
    case 'string':
      if (typeof schema.pattern === 'string' && schema.format === undefined) return undefined;
      return sampleString(schema, name);
    case 'integer':
    case 'number':
      return typeof schema.minimum === 'number' ? schema.minimum : 1;
    case 'boolean':
      return false;
    case 'null':
      return null;
    case 'array': {
      const count = typeof schema.minItems === 'number' ? Math.ceil(schema.minItems) : 0;
      if (!(count <= MAX_SAMPLE_ITEMS)) return undefined;
      const item = count > 0 ? sampleValue(schema.items, root, name, depth + 1) : undefined;
      return count > 0 && item === undefined
        ? undefined
        : Array.from({ length: count }, () => item);
    }
    case 'object':
    case undefined: {
      const properties = isObject(schema.properties) ? schema.properties : {};
      const required = Array.isArray(schema.required) ? (schema.required as string[]) : [];
      const value: Record<string, unknown> = {};
      for (const key of required) {
        const sample = sampleValue(properties[key], root, key, depth + 1);
        if (sample === undefined) return undefined;
        // A hostile document may require `__proto__`: setOwn keeps it a key of the sample.
        setOwn(value, key, sample);
      }
      return value;
    }
    default:
      return undefined;
  }
}
