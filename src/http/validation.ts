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
