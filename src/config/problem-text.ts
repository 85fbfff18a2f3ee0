import type { ErrorObject } from 'ajv';
import { isPlainObject, type Json } from './json.js';
import { describeExpected, settings, type SchemaNode, type Setting } from './settings.js';

// How config problems are worded: "did you mean" guesses for misspelt names, and each schema
// error as one line that names where the value came from and how to fix it.

/** Settings whose values are never echoed in an error message. */
// oidc.providers: its JSON carries client secrets.
const SECRET_PATH = /key|secret|password|passphrase|token|url|providers/i;

/**
 * The candidate closest to a misspelt `name` (Levenshtein distance), if close enough to be the
 * one meant. `ignored` leading characters (a shared prefix) do not count towards the budget.
 */
function closest(name: string, candidates: Iterable<string>, ignored = 0): string | undefined {
  const distance = (a: string, b: string): number => {
    const row = Array.from({ length: b.length + 1 }, (_, i) => i);
    for (let i = 1; i <= a.length; i++) {
      let prev = row[0]!;
      row[0] = i;
      for (let j = 1; j <= b.length; j++) {
        const tmp = row[j]!;
        row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
        prev = tmp;
      }
    }
    return row[b.length]!;
  };
  let best: { name: string; d: number } | undefined;
  for (const candidate of candidates) {
    const d = distance(name, candidate);
    if (!best || d < best.d) best = { name: candidate, d };
  }
  // Proportional to the name's length after the prefix: a guess for BULWARK_FOO ("did you mean
  // BULWARK_ENV?", three edits in three letters) misleads more than it helps.
  const budget = Math.min(4, Math.floor((name.length - ignored) / 3));
  return best && best.d <= budget ? best.name : undefined;
}

export function closestSetting(name: string): string | undefined {
  const names = settings.map((s) => s.envName);
  const near = closest(name, names, 'BULWARK_'.length);
  if (near !== undefined) return near;
  // The name without its section (BULWARK_TRUST_PROXY for BULWARK_SERVER_TRUST_PROXY), far in
  // edits but the likeliest slip: BULWARK_MASTER_KEY is itself a name. A suffix shared by more
  // than a few settings (_URL, _ENABLED) says too little to name any.
  const rest = name.slice('BULWARK_'.length);
  const endings = names.filter((n) => n.endsWith(`_${rest}`));
  if (endings.length === 0 || endings.length > 3) return undefined;
  return endings.length === 1
    ? endings[0]
    : `${endings.slice(0, -1).join(', ')} or ${endings.at(-1)!}`;
}

/** Every dotted path a config file may hold: each setting and each object above it. */
const FILE_PATHS = new Set(
  settings.flatMap((s) => s.path.split('.').map((_, i, keys) => keys.slice(0, i + 1).join('.'))),
);

function settingFor(pointer: string): Setting | undefined {
  const dotted = pointer.split('/').filter(Boolean).join('.');
  return settings.find((s) => dotted === s.path || dotted.startsWith(`${s.path}.`));
}

function valueAt(root: unknown, pointer: string): unknown {
  let node = root;
  for (const key of pointer.split('/').filter(Boolean)) {
    node = isPlainObject(node) ? node[key] : Array.isArray(node) ? node[Number(key)] : undefined;
  }
  return node;
}

/**
 * The schema node at `pointer` inside `setting` (a setting can be a whole map, such as
 * access.roles, whose entries have their own schema); the setting's own node if it cannot be found.
 */
function schemaAt(setting: Setting, pointer: string): SchemaNode {
  const inner = pointer.split('/').filter(Boolean).slice(setting.path.split('.').length);
  let node: SchemaNode | undefined = setting.schema;
  for (const key of inner) {
    if (node === undefined) break;
    node =
      node.properties?.[key] ??
      (node.patternProperties
        ? Object.entries(node.patternProperties).find(([pattern]) =>
            new RegExp(pattern, 'u').test(key),
          )?.[1]
        : undefined) ??
      (/^\d+$/.test(key) ? node.items : undefined);
  }
  return node ?? setting.schema;
}

/** Longest value quoted whole in a message; a longer one is described by its size. */
const SHOWN_MAX = 120;

/**
 * The value a message quotes: whole when short, else its kind and size. A list of thousands of
 * entries pasted into one setting would otherwise print as one line of hundreds of KiB.
 */
function shownValue(value: unknown): string {
  const json = JSON.stringify(value) ?? String(value);
  if (json.length <= SHOWN_MAX) return json;
  if (Array.isArray(value)) return `a list of ${value.length} entries`;
  if (typeof value === 'string') {
    return `${JSON.stringify(value.slice(0, 40))}… (${value.length} characters)`;
  }
  if (typeof value === 'object' && value !== null) {
    return `an object of ${Object.keys(value).length} keys`;
  }
  return `${json.slice(0, SHOWN_MAX)}…`;
}

export function describeAjvError(
  error: ErrorObject,
  raw: Json,
  sources: Map<string, string>,
  file: { name: string; data: Json } | undefined,
): string {
  if (error.keyword === 'additionalProperties') {
    const extra = (error.params as { additionalProperty: string }).additionalProperty;
    const parent = error.instancePath.split('/').filter(Boolean).join('.');
    const where = parent === '' ? extra : `${parent}.${extra}`;
    const map = settingFor(error.instancePath);
    // Where the key was written: the variable that holds the whole setting, else the file (an
    // unknown key of a section can only come from there, or from the program's overrides).
    const source = map === undefined ? undefined : sources.get(map.path);
    const origin =
      source !== undefined && !source.includes(': ')
        ? `${source}: `
        : file !== undefined && valueAt(file.data, `${error.instancePath}/${extra}`) !== undefined
          ? `${file.name}: `
          : '';
    const patterns = map?.path === parent ? Object.keys(map.schema.patternProperties ?? {}) : [];
    if (patterns.length > 0) {
      return `${origin}${parent} has an entry named ${JSON.stringify(extra)}, which is not a valid name. Fix: use a name matching ${patterns.join(' or ')}.`;
    }
    const guess = closest(where, FILE_PATHS);
    return `${origin}unknown setting "${where}". Fix: ${guess ? `did you mean "${guess}"? ` : ''}remove it or check its spelling against docs/config.md.`;
  }
  const setting = settingFor(error.instancePath);
  const path = error.instancePath.split('/').filter(Boolean).join('.') || '(root)';
  const source = setting ? (sources.get(setting.path) ?? setting.path) : path;
  // A file's label already holds the path (`bulwark.json: server.port`): name the file and the
  // exact key once, rather than the setting and then the key in parentheses.
  const label =
    source === path
      ? path
      : setting !== undefined && source.endsWith(`: ${setting.path}`)
        ? `${source.slice(0, -setting.path.length)}${path}`
        : `${source} (${path})`;
  const value = valueAt(raw, error.instancePath);
  const shown = SECRET_PATH.test(path) ? '<redacted>' : shownValue(value);
  const expected = setting
    ? describeExpected(schemaAt(setting, error.instancePath))
    : 'a valid value';
  return `${label} ${error.message ?? 'is invalid'}, got ${shown}. Fix: set it to ${expected}.`;
}

/** One error per bad value: a failed union reports every branch, the operator needs one line. */
export function summarise(errors: ErrorObject[]): ErrorObject[] {
  const byPath = new Map<string, ErrorObject>();
  for (const error of errors) {
    const key =
      error.keyword === 'additionalProperties'
        ? `${error.instancePath}#${JSON.stringify(error.params)}`
        : error.instancePath;
    const seen = byPath.get(key);
    if (!seen) byPath.set(key, error);
    else if (error.keyword === 'anyOf')
      byPath.set(key, { ...error, message: 'is not one of the allowed values' });
  }
  return [...byPath.values()].map((e) =>
    e.keyword === 'anyOf' || e.keyword === 'const'
      ? { ...e, message: 'is not one of the allowed values' }
      : e,
  );
}
