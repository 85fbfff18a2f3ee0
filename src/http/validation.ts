import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FieldError } from '../errors.js';

const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

function makeAjv(coerce: boolean, allErrors: boolean): Ajv {
  const ajv = new Ajv({
    // Unknown fields are an error (no mass assignment), never silently dropped.
    removeAdditional: false,
    useDefaults: true,
    // Bodies are typed JSON: "12" is not 12. Query strings and params are text and need coercion.
    coerceTypes: coerce ? 'array' : false,
    // See ALL_ERRORS_MAX_VALUES: every problem of an ordinary request, the first of a huge one.
    allErrors,
    strict: false,
    // Checked against the meta-schema below, by one instance: each Ajv that checks compiles the
    // meta-schema first (~30 ms of every start, per instance).
    validateSchema: false,
  });
  addFormats(ajv);
  return ajv;
}

const bodyAjv = makeAjv(false, true);

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
 * Values (array items and object members, at any depth) up to which a request part is checked
 * for every problem; past it, only up to the first. Listing every problem builds one error per
 * offending value, bounded only by the body limit: 30,000 wrong items in a 60 KB body were
 * 30,001 errors, ~50-100 ms of CPU and a 1.6 MB answer per request (the reason Ajv and CodeQL
 * advise against `allErrors` on untrusted data). Far above any real form or payload.
 */
export const ALL_ERRORS_MAX_VALUES = 1_000;

/** True when `data` holds more than `max` values; stops counting there. */
function holdsMoreValuesThan(data: unknown, max: number): boolean {
  if (typeof data !== 'object' || data === null) return false;
  const stack: object[] = [data];
  let count = 0;
  while (stack.length > 0) {
    const node = stack.pop() as Record<string, unknown>;
    // for...in, not Object.values: a node with 50,000 members is not copied just to be counted.
    for (const key in node) {
      if (++count > max) return true;
      const child = node[key];
      if (typeof child === 'object' && child !== null) stack.push(child);
    }
  }
  return false;
}

/**
 * A pair of Ajv instances for one part kind: `all` lists every problem, `first` (created on first
 * need, with the same shared schemas) stops at the first one.
 */
interface AjvPair {
  all: Ajv;
  first: () => Ajv;
}

function ajvPair(coerce: boolean, shared: readonly object[] = [], all?: Ajv): AjvPair {
  const complete = all ?? makeAjv(coerce, true);
  if (all === undefined) for (const schema of shared) complete.addSchema(schema);
  let first: Ajv | undefined;
  return {
    all: complete,
    first: () => {
      if (first === undefined) {
        first = makeAjv(coerce, false);
        for (const schema of shared) first.addSchema(schema);
      }
      return first;
    },
  };
}

/**
 * The validator of one schema: the every-problem one for ordinary data, the first-problem one
 * (compiled on first need) for data past ALL_ERRORS_MAX_VALUES. It carries `schemaEnv` so that
 * Fastify passes the parent data, which Ajv needs to coerce a root value.
 */
function boundedValidator(pair: AjvPair, schema: object): ValidateFunction {
  const complete = pair.all.compile(schema);
  let firstOnly: ValidateFunction | undefined;
  const validate = function (this: unknown, ...args: Parameters<ValidateFunction>): boolean {
    const chosen = holdsMoreValuesThan(args[0], ALL_ERRORS_MAX_VALUES)
      ? (firstOnly ??= pair.first().compile(schema))
      : complete;
    const valid = chosen.apply(this, args);
    validate.errors = chosen.errors;
    return valid;
  } as ValidateFunction;
  validate.schema = complete.schema;
  validate.schemaEnv = complete.schemaEnv;
  return validate;
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

/**
 * A schema's JSON, the key under which its compiled form is kept; undefined for one that has no
 * JSON (a cycle, a BigInt), which is compiled every time and fails with the compiler's own message.
 */
export function schemaKey(schema: unknown): string | undefined {
  try {
    return JSON.stringify(schema);
  } catch {
    return undefined;
  }
}

/**
 * Compiles each distinct schema once per Ajv pair. Fastify hands over a fresh copy of a route's
 * schema, so Ajv's own cache (by object) missed every time: 68 compilations of 19 distinct
 * schemas at every start of the service, ~110 ms. The key is the schema's JSON, which is all Ajv
 * reads of it (Ajv 6 keyed its cache the same way); a compiled validator keeps no state between
 * calls but `errors`, which Fastify reads right after its own call.
 */
function compilerFor(body: AjvPair, text: AjvPair): ValidatorCompiler {
  const compiled = new Map<string, ValidateFunction>();
  return ({ schema, httpPart }) => {
    const pair = httpPart === 'body' ? body : text;
    const json = schemaKey(schema);
    const key = json === undefined ? undefined : `${pair === body ? 'body' : 'text'} ${json}`;
    let validate = key === undefined ? undefined : compiled.get(key);
    if (validate === undefined) {
      assertValidSchema(schema);
      validate = boundedValidator(pair, schema as object);
      if (key !== undefined) compiled.set(key, validate);
    }
    return validate;
  };
}

/**
 * Fastify validator compiler: strict for bodies, coercing for querystring, params and headers.
 * Shared by every app without shared schemas, so Ajv's compiled-schema cache carries over.
 */
export const validatorCompiler: ValidatorCompiler = compilerFor(
  ajvPair(false, [], bodyAjv),
  ajvPair(true),
);

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
  for (const [id, schema] of shared) assertValidSchema(schema, `shared schema ${id}`);
  const schemas = shared.map(([, schema]) => schema as object);
  return compilerFor(ajvPair(false, schemas), ajvPair(true, schemas));
}

/** How many allowed values a "must be one of" message names before it stops listing them. */
const MAX_LISTED_VALUES = 50;

/** The values a `const` or `enum` error allows; undefined for any other keyword. */
function allowedValues(error: Partial<ErrorObject>): unknown[] | undefined {
  const params = (error.params ?? {}) as Record<string, unknown>;
  if (error.keyword === 'const') return [params.allowedValue];
  if (error.keyword === 'enum' && Array.isArray(params.allowedValues))
    return params.allowedValues as unknown[];
  return undefined;
}

/**
 * A failed union (`anyOf`/`oneOf`, what `Type.Union` compiles to) makes Ajv report every branch
 * and then the union itself: 37 "must be equal to constant" lines for a wrong audit event type,
 * or "must be null" for a phone number that is too short. The client needs one answer per value:
 * the allowed values when every branch is a constant, the branches' own complaints when the value
 * had a branch's type, or the types it may have.
 */
function mergeUnionErrors(errors: readonly Partial<ErrorObject>[]): Partial<ErrorObject>[] {
  const merged: (Partial<ErrorObject> | undefined)[] = [...errors];
  errors.forEach((union, index) => {
    if (union.keyword !== 'anyOf' && union.keyword !== 'oneOf') return;
    const prefix = `${union.schemaPath ?? ''}/`;
    // Ajv reports a union's branch errors just before the union's own, in one run: scanning
    // back only through that run keeps this linear (the whole list for every union was
    // quadratic: 1 000 failed unions of 37 constants cost 120 ms of one request's CPU).
    const branches: number[] = [];
    for (let i = index - 1; i >= 0 && (errors[i]?.schemaPath ?? '').startsWith(prefix); i--) {
      if (merged[i] !== undefined) branches.unshift(i);
    }
    if (branches.length === 0) return;
    const here = (i: number): boolean => errors[i]?.instancePath === union.instancePath;
    const wrongType = branches.filter((i) => errors[i]?.keyword === 'type' && here(i));
    const types = [
      ...new Set(
        wrongType.map((i) => String(((errors[i]?.params ?? {}) as Record<string, unknown>).type)),
      ),
    ];
    const rest = branches.filter((i) => !wrongType.includes(i));
    for (const i of wrongType) merged[i] = undefined;
    if (rest.length === 0) {
      merged[index] = { ...union, message: `must be ${types.join(' or ')}` };
      return;
    }
    const values = rest.map((i) => (here(i) ? allowedValues(errors[i] ?? {}) : undefined));
    if (values.every((v) => v !== undefined)) {
      const all = values.flat();
      const listed = all
        .slice(0, MAX_LISTED_VALUES)
        .map((v) => (typeof v === 'string' ? v : JSON.stringify(v)));
      const more = all.length > MAX_LISTED_VALUES ? ', …' : '';
      const orType = types.length > 0 ? ` (or ${types.join(' or ')})` : '';
      for (const i of rest) merged[i] = undefined;
      merged[index] = { ...union, message: `must be one of ${listed.join(', ')}${more}${orType}` };
      return;
    }
    // The value had a branch's type: that branch's own complaints say what to fix.
    merged[index] = undefined;
  });
  return merged.filter((error) => error !== undefined);
}

/** Turns Ajv errors into the problem document's `errors` list. */
export function fieldErrors(part: string, errors: readonly Partial<ErrorObject>[]): FieldError[] {
  return mergeUnionErrors(errors).map((error) => {
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
