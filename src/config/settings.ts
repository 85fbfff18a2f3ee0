import { ConfigSchema } from './schema.js';

/** JSON-schema node as TypeBox emits it; only the members the loader reads. */
export interface SchemaNode {
  type?: string;
  properties?: Record<string, SchemaNode>;
  patternProperties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  anyOf?: SchemaNode[];
  const?: unknown;
  default?: unknown;
  description?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  maxItems?: number;
  pattern?: string;
  format?: string;
}

/** One leaf setting of the schema, with the environment variable(s) that set it. */
export interface Setting {
  /** Dotted path in the config object: `server.port`. */
  path: string;
  /** BULWARK_SERVER_PORT */
  envName: string;
  /** Conventional names accepted too (PORT, HOST, DATABASE_URL ...). */
  aliases: string[];
  schema: SchemaNode;
}

/** Conventional environment variables that platforms set, mapped to their setting. */
const ALIASES: Record<string, string[]> = {
  env: ['NODE_ENV'],
  'server.host': ['HOST'],
  'server.port': ['PORT'],
  'database.url': ['DATABASE_URL'],
  'redis.url': ['REDIS_URL'],
  'keys.masterKey': ['BULWARK_MASTER_KEY'],
};

// Units written in mixed case are one word in an environment name: argon2MemoryKiB is
// ..._MEMORY_KIB, which an operator can guess, not ..._MEMORY_KI_B.
const MIXED_CASE_UNITS = /(KiB|MiB|GiB)(?=[A-Z]|$)/g;

function toSnake(segment: string): string {
  return segment
    .replace(MIXED_CASE_UNITS, (unit) => unit[0] + unit.slice(1).toLowerCase())
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toUpperCase();
}

function isGroup(node: SchemaNode): boolean {
  return node.type === 'object' && node.properties !== undefined;
}

function collect(node: SchemaNode, prefix: string[], out: Setting[]): void {
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    const path = [...prefix, key];
    if (isGroup(child)) {
      collect(child, path, out);
      continue;
    }
    const dotted = path.join('.');
    out.push({
      path: dotted,
      envName: `BULWARK_${path.map(toSnake).join('_')}`,
      aliases: ALIASES[dotted] ?? [],
      schema: child,
    });
  }
}

/** Every leaf setting of the configuration schema, in schema order. */
export const settings: readonly Setting[] = (() => {
  const out: Setting[] = [];
  // Widened: TypeBox's Unsafe nodes (typed unions) share no declared member with SchemaNode,
  // though at runtime they are plain JSON-schema objects like every other node (and in dist/ the
  // whole schema is JSON: scripts/freeze-schemas.mjs).
  collect(ConfigSchema as SchemaNode, [], out);
  return Object.freeze(out);
})();

/** Describes what a setting accepts, for error messages and docs: "an integer from 0 to 65535". */
export function describeExpected(node: SchemaNode): string {
  if (node.anyOf) {
    const literals = node.anyOf.map((n) => n.const).filter((c) => c !== undefined);
    if (literals.length === node.anyOf.length)
      return `one of ${literals.map((l) => JSON.stringify(l)).join(', ')}`;
    return node.anyOf.map(describeExpected).join(' or ');
  }
  switch (node.type) {
    case 'integer':
    case 'number': {
      const kind = node.type === 'integer' ? 'an integer' : 'a number';
      if (node.minimum !== undefined && node.maximum !== undefined)
        return `${kind} from ${node.minimum} to ${node.maximum}`;
      if (node.minimum !== undefined) return `${kind} >= ${node.minimum}`;
      return kind;
    }
    case 'boolean':
      return 'true or false';
    case 'array': {
      const most = node.maxItems === undefined ? '' : ` of at most ${node.maxItems} entries`;
      return `a list${most} (comma-separated in the environment), each ${node.items ? describeExpected(node.items) : 'a value'}`;
    }
    case 'object':
      return 'a JSON object';
    case 'string': {
      if (node.format === 'date-time') return 'an RFC 3339 date-time such as 2027-01-31T00:00:00Z';
      if (node.format === 'uri') return 'a URL';
      const min = node.minLength ?? 0;
      const bounds =
        node.maxLength === undefined
          ? min > 1
            ? ` of at least ${min} characters`
            : ''
          : min > 1
            ? ` of ${min} to ${node.maxLength} characters`
            : ` of at most ${node.maxLength} characters`;
      return node.pattern === undefined
        ? `a string${bounds}`
        : `a string${bounds} matching ${node.pattern}`;
    }
    default:
      return 'a valid value';
  }
}
