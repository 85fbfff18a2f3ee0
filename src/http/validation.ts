import { Ajv, type ErrorObject } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';
import type { FieldError } from '../errors.js';

const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

function makeAjv(coerce: boolean): Ajv {
  const ajv = new Ajv({
    // Unknown fields are an error (no mass assignment), never silently dropped.
    removeAdditional: false,
    useDefaults: true,
    // Bodies are typed JSON: "12" is not 12. Query strings and params are text and need coercion.
    coerceTypes: coerce ? 'array' : false,
    // Every string and array is bounded (see assertStrictSchema), so listing all errors is cheap.
    allErrors: true,
    strict: false,
    // Checked against the meta-schema below, by one instance: each Ajv that checks compiles the
    // meta-schema first (~30 ms of every start, per instance).
    validateSchema: false,
  });
  addFormats(ajv);
  return ajv;
}

const bodyAjv = makeAjv(false);
const textAjv = makeAjv(true);

/**
 * Fastify validator compiler: strict for bodies, coercing for querystring, params and headers.
 * Every schema is first checked against the JSON Schema meta-schema, as Ajv does by default, so
 * a malformed schema still fails the start with Ajv's own message.
 */
export const validatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) => {
  if (!bodyAjv.validateSchema(schema as object)) {
    throw new Error(`schema is invalid: ${bodyAjv.errorsText(bodyAjv.errors)}`);
  }
  return (httpPart === 'body' ? bodyAjv : textAjv).compile(schema as object);
};

/** Turns Ajv errors into the problem document's `errors` list. */
export function fieldErrors(part: string, errors: readonly Partial<ErrorObject>[]): FieldError[] {
  return errors.map((error) => {
    const params = (error.params ?? {}) as Record<string, unknown>;
    let path = `/${part}${error.instancePath ?? ''}`;
    let message = error.message ?? 'is invalid';
    if (error.keyword === 'required' && typeof params.missingProperty === 'string') {
      path += `/${params.missingProperty}`;
      message = 'is required';
    } else if (
      error.keyword === 'additionalProperties' &&
      typeof params.additionalProperty === 'string'
    ) {
      path += `/${params.additionalProperty}`;
      message = 'is not allowed';
    }
    return { path, message };
  });
}

interface Node {
  type?: string | string[];
  properties?: Record<string, Node>;
  patternProperties?: Record<string, Node>;
  additionalProperties?: boolean | Node;
  items?: Node | Node[];
  anyOf?: Node[];
  oneOf?: Node[];
  allOf?: Node[];
  maxLength?: number;
  maxItems?: number;
  format?: string;
  const?: unknown;
  enum?: unknown[];
}

// Formats whose grammar already bounds the length.
const BOUNDED_FORMATS = new Set(['uuid', 'date-time', 'date', 'time', 'ipv4', 'ipv6']);

/**
 * Refuses, at start-up, a request schema that would accept unbounded or unexpected input: every
 * object must set additionalProperties: false, every string a maxLength (or a bounded format,
 * const or enum), every array a maxItems. Applies to Bulwark's routes and to library users' routes.
 */
export function assertStrictSchema(
  schema: unknown,
  where: string,
  allowExtraProperties = false,
): void {
  const visit = (node: Node, path: string): void => {
    if (typeof node !== 'object' || node === null) return;
    for (const branch of [...(node.anyOf ?? []), ...(node.oneOf ?? []), ...(node.allOf ?? [])])
      visit(branch, path);
    const types = Array.isArray(node.type) ? node.type : node.type ? [node.type] : [];
    if (types.includes('object') && node.properties !== undefined) {
      if (!allowExtraProperties && node.additionalProperties !== false) {
        throw new Error(
          `${where}${path || '/'}: object schemas must set additionalProperties: false`,
        );
      }
      for (const [key, child] of Object.entries(node.properties)) visit(child, `${path}/${key}`);
    }
    for (const child of Object.values(node.patternProperties ?? {})) visit(child, `${path}/*`);
    if (typeof node.additionalProperties === 'object')
      visit(node.additionalProperties, `${path}/*`);
    if (types.includes('string')) {
      const bounded =
        node.maxLength !== undefined ||
        node.const !== undefined ||
        node.enum !== undefined ||
        (node.format !== undefined && BOUNDED_FORMATS.has(node.format));
      if (!bounded) throw new Error(`${where}${path || '/'}: string schemas must set maxLength`);
    }
    if (types.includes('array')) {
      if (node.maxItems === undefined)
        throw new Error(`${where}${path || '/'}: array schemas must set maxItems`);
      for (const item of Array.isArray(node.items) ? node.items : node.items ? [node.items] : []) {
        visit(item, `${path}/[]`);
      }
    }
  };
  visit(schema as Node, '');
}
