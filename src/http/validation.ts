import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
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

/**
 * Every schema is first checked against the JSON Schema meta-schema, as Ajv does by default, so
 * a malformed schema still fails the start with Ajv's own message.
 */
function assertValidSchema(schema: unknown, what = 'schema'): void {
  if (!bodyAjv.validateSchema(schema as object)) {
    throw new Error(`${what} is invalid: ${bodyAjv.errorsText(bodyAjv.errors)}`);
  }
}

/**
 * What Fastify passes a validator compiler (the parts used here); a function of this type fits
 * both `setValidatorCompiler` and `compilersFactory.buildValidator`.
 */
export type ValidatorCompiler = (route: {
  readonly schema: unknown;
  readonly httpPart?: string;
  readonly method?: string;
  readonly url?: string;
}) => ValidateFunction;

function compilerFor(body: Ajv, text: Ajv): ValidatorCompiler {
  return ({ schema, httpPart }) => {
    assertValidSchema(schema);
    return (httpPart === 'body' ? body : text).compile(schema as object);
  };
}

/**
 * Fastify validator compiler: strict for bodies, coercing for querystring, params and headers.
 * Shared by every app without shared schemas, so Ajv's compiled-schema cache carries over.
 */
export const validatorCompiler: ValidatorCompiler = compilerFor(bodyAjv, makeAjv(true));

/**
 * Fastify's `schemaController.compilersFactory.buildValidator`: Fastify calls it once for the
 * root and once more for each plugin context that adds shared schemas (`app.addSchema`), with
 * every schema that context sees, so `{ $ref: 'Note#' }` resolves. Contexts without shared
 * schemas share {@link validatorCompiler}: no Ajv per app or per route at start-up.
 * @see https://fastify.dev/docs/latest/Reference/Server/#schemacontroller
 */
export function buildValidator(
  externalSchemas: Readonly<Record<string, unknown>> | undefined,
): ValidatorCompiler {
  const shared = Object.entries(externalSchemas ?? {});
  if (shared.length === 0) return validatorCompiler;
  const body = makeAjv(false);
  const text = makeAjv(true);
  for (const [id, schema] of shared) {
    assertValidSchema(schema, `shared schema ${id}`);
    body.addSchema(schema as object);
    text.addSchema(schema as object);
  }
  return compilerFor(body, text);
}

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
