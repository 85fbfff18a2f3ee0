type Schema = boolean | Node;

interface Node {
  $ref?: string;
  type?: string | string[];
  properties?: Record<string, Schema>;
  patternProperties?: Record<string, Schema>;
  additionalProperties?: Schema;
  propertyNames?: Schema;
  maxProperties?: number;
  items?: Schema | Schema[];
  additionalItems?: Schema;
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
  maxLength?: number;
  maxItems?: number;
  format?: string;
  const?: unknown;
  enum?: unknown[];
}

/** Options of {@link assertStrictSchema}. */
export interface StrictSchemaOptions {
  /**
   * Objects may stay open (request headers: every client sends more than a route names). Their
   * listed properties are still checked.
   */
  readonly allowExtraProperties?: boolean;
  /** Fastify's shared schemas (`app.getSchemas()`), by `$id`, so `$ref: 'Note#'` is followed. */
  readonly schemas?: Readonly<Record<string, unknown>>;
}

// Formats whose grammar already bounds the length. Not `date-time` or `time`: RFC 3339 allows
// any number of fractional-second digits, and ajv-formats accepts tens of thousands of them.
const BOUNDED_FORMATS = new Set(['uuid', 'date', 'ipv4', 'ipv6']);

const isNode = (value: unknown): value is Node => typeof value === 'object' && value !== null;
const own = (value: object, key: string): boolean =>
  Object.prototype.hasOwnProperty.call(value, key);

/** A JSON pointer (RFC 6901) in URI-fragment form, `/$defs/S`, resolved from `root`. */
function followPointer(root: unknown, pointer: string): unknown {
  if (pointer === '' || pointer === '/') return root;
  if (!pointer.startsWith('/')) return undefined; // an anchor (`#foo`): not followed, so refused
  let node = root;
  for (const raw of pointer.slice(1).split('/')) {
    let key: string;
    try {
      key = decodeURIComponent(raw).replaceAll('~1', '/').replaceAll('~0', '~');
    } catch {
      return undefined;
    }
    // Own keys only: a pointer must not reach Object.prototype.
    if (!isNode(node) || !own(node, key)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

/**
 * Refuses, at start-up, a request schema that would accept unbounded or unexpected input:
 * - a node that accepts any value (`{}`, `Type.Unknown()`, `Type.Any()`, `true`, or a schema with
 *   no `type`, `const`, `enum`, `anyOf`/`oneOf`/`allOf` or `$ref`, such as `{ minLength: 1 }`,
 *   `if`/`then`/`else` or `not` alone);
 * - a string without `maxLength` (or a bounded format, `const` or `enum`);
 * - an object that is neither closed (`additionalProperties: false`, no `patternProperties`) nor
 *   bounded (`maxProperties`, `propertyNames` with `maxLength`, and `additionalProperties` false
 *   or a schema for the values), which covers `Type.Record` and `{ type: 'object' }`;
 * - an array without `maxItems` or without `items`, and a tuple whose extra items are unchecked.
 * Every reachable subschema is checked, through `anyOf`/`oneOf`/`allOf` and through `$ref` (local
 * `#/$defs/...` and Fastify shared schemas); a `$ref` that does not resolve is refused. Keywords
 * that can only narrow what a node accepts (`not`, `if`/`then`/`else`, `contains`…) are not
 * counted as bounds. Applies to Bulwark's routes and to library users' routes.
 */
export function assertStrictSchema(
  schema: unknown,
  where: string,
  options: boolean | StrictSchemaOptions = {},
): void {
  const { allowExtraProperties = false, schemas = {} } =
    typeof options === 'boolean' ? { allowExtraProperties: options } : options;
  // Per document (the route schema or a shared schema), the nodes already checked: a node reached
  // twice (or through a $ref cycle) is checked once.
  const seen = new Map<unknown, Set<unknown>>();

  const fail = (path: string, message: string): never => {
    throw new Error(`${where}${path || '/'}: ${message}`);
  };

  const resolve = (ref: string, doc: unknown, path: string): { node: unknown; doc: unknown } => {
    const hash = ref.indexOf('#');
    const id = hash === -1 ? ref : ref.slice(0, hash);
    const pointer = hash === -1 ? '' : ref.slice(hash + 1);
    const target = id === '' ? doc : own(schemas, id) ? schemas[id] : undefined;
    const node = target === undefined ? undefined : followPointer(target, pointer);
    if (node === undefined) {
      fail(
        path,
        `$ref ${JSON.stringify(ref)} does not resolve; refer to a local #/$defs/... or to a ` +
          'schema added with app.addSchema() before the route',
      );
    }
    return { node, doc: target };
  };

  // Whether a string schema (here: propertyNames) bounds the length of what it accepts.
  const boundsStrings = (node: unknown, doc: unknown, path: string, depth = 0): boolean => {
    if (node === false) return true;
    if (!isNode(node) || depth > 32) return false;
    if (node.maxLength !== undefined || node.const !== undefined || node.enum !== undefined)
      return true;
    if (node.format !== undefined && BOUNDED_FORMATS.has(node.format)) return true;
    if (node.$ref !== undefined) {
      const target = resolve(node.$ref, doc, path);
      if (boundsStrings(target.node, target.doc, path, depth + 1)) return true;
    }
    if ((node.allOf ?? []).some((branch) => boundsStrings(branch, doc, path, depth + 1)))
      return true;
    for (const branches of [node.anyOf, node.oneOf]) {
      if (branches?.length && branches.every((b) => boundsStrings(b, doc, path, depth + 1)))
        return true;
    }
    return false;
  };

  const visit = (node: unknown, doc: unknown, path: string): void => {
    if (node === false) return; // accepts nothing
    if (!isNode(node)) {
      fail(path, 'accepts any value; give it a type with bounds (and no `true` schema)');
      return;
    }
    let checked = seen.get(doc);
    if (checked === undefined) seen.set(doc, (checked = new Set()));
    if (checked.has(node)) return;
    checked.add(node);

    // A fixed set of values is bounded, whatever else the node says.
    if (node.const !== undefined || node.enum !== undefined) return;

    const branches = [...(node.anyOf ?? []), ...(node.oneOf ?? []), ...(node.allOf ?? [])];
    for (const branch of branches) visit(branch, doc, path);
    if (node.$ref !== undefined) {
      const target = resolve(node.$ref, doc, path);
      visit(target.node, target.doc, path);
    }

    const types = Array.isArray(node.type) ? node.type : node.type ? [node.type] : [];
    if (types.length === 0 && branches.length === 0 && node.$ref === undefined) {
      fail(
        path,
        'accepts any value (Type.Unknown(), Type.Any(), or a schema without type); ' +
          'set a type with its bounds (maxLength, maxItems, additionalProperties: false)',
      );
    }

    if (types.includes('object')) visitObject(node, doc, path);
    if (types.includes('string')) {
      const bounded =
        node.maxLength !== undefined ||
        (node.format !== undefined && BOUNDED_FORMATS.has(node.format));
      if (!bounded) fail(path, 'string schemas must set maxLength');
    }
    if (types.includes('array')) visitArray(node, doc, path);
  };

  const visitObject = (node: Node, doc: unknown, path: string): void => {
    const closed = node.additionalProperties === false && node.patternProperties === undefined;
    if (!closed && !allowExtraProperties) {
      // Extra keys are allowed: bound how many, how long, and what their values may be.
      const missing: string[] = [];
      if (node.maxProperties === undefined) missing.push('maxProperties');
      if (!boundsStrings(node.propertyNames, doc, path))
        missing.push('propertyNames: { maxLength }');
      if (!isNode(node.additionalProperties) && node.additionalProperties !== false)
        missing.push('additionalProperties: false or a schema for the other values');
      if (missing.length > 0) {
        fail(
          path,
          'object schemas must set additionalProperties: false (without patternProperties), ' +
            `or be bounded: add ${missing.join(', ')}`,
        );
      }
    }
    for (const [key, child] of Object.entries(node.properties ?? {}))
      visit(child, doc, `${path}/${key}`);
    for (const child of Object.values(node.patternProperties ?? {})) visit(child, doc, `${path}/*`);
    if (isNode(node.additionalProperties)) visit(node.additionalProperties, doc, `${path}/*`);
  };

  const visitArray = (node: Node, doc: unknown, path: string): void => {
    if (node.maxItems === undefined) fail(path, 'array schemas must set maxItems');
    const maxItems = node.maxItems ?? Infinity;
    if (node.items === undefined) {
      fail(path, 'array schemas must set items');
    } else if (Array.isArray(node.items)) {
      node.items.forEach((item, index) => visit(item, doc, `${path}/${index}`));
      if (maxItems > node.items.length) {
        if (node.additionalItems === undefined || node.additionalItems === true)
          fail(path, 'tuple schemas must set additionalItems: false (or a bounded schema)');
        visit(node.additionalItems, doc, `${path}/[]`);
      }
    } else {
      visit(node.items, doc, `${path}/[]`);
    }
  };

  if (schema === undefined) return;
  visit(schema, schema, '');
}
