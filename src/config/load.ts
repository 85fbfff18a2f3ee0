import { resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import {
  readFailure,
  readFileBoundedSync,
  SETTINGS_FILE_MAX_BYTES,
} from '../files/read-bounded.js';
import type { Config, ConfigInput } from './schema.js';
import { checkConfigRules } from './rules.js';
import { validateConfig as validate } from './validator.js';
import { isPlainObject, type Json } from './json.js';
import { closestSetting, describeAjvError, summarise } from './problem-text.js';
import { describeExpected, settings, type SchemaNode } from './settings.js';

export interface LoadConfigOptions {
  /** Environment to read; defaults to process.env. */
  env?: Record<string, string | undefined>;
  /** Path of a JSON config file (the CLI's --config). */
  file?: string;
  /** Directory a relative `file` is read from; defaults to the process's working directory. */
  cwd?: string;
  /** Programmatic settings, applied last. */
  overrides?: ConfigInput;
}

function setPath(target: Json, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (!isPlainObject(next)) node[key] = Object.create(null) as Json;
    node = node[key] as Json;
  }
  node[path[path.length - 1]!] = value;
}

function deepMerge(target: Json, source: Json): Json {
  for (const [key, value] of Object.entries(source)) {
    // Config files are operator input, but a poisoned key must still never reach a prototype.
    if (key === '__proto__' || key === 'constructor' || key === 'prototype') continue;
    const current = target[key];
    if (isPlainObject(value) && isPlainObject(current)) deepMerge(current, value);
    else target[key] = isPlainObject(value) ? deepMerge(Object.create(null) as Json, value) : value;
  }
  return target;
}

/**
 * Where JSON.parse gave up in `text`, as " (line L, column C)" (" (column C)" for one line), or
 * " (it ends too early)"; empty when the engine did not say. Only the position is taken from
 * the engine's message: its text can quote the input, and settings hold secrets.
 */
function jsonErrorPlace(error: unknown, text: string): string {
  const message = error instanceof Error ? error.message : '';
  if (/unexpected end of JSON input/i.test(message)) return ' (it ends too early)';
  const position = /\bposition (\d+)\b/.exec(message)?.[1];
  if (position === undefined) return '';
  const before = text.slice(0, Number(position)).split('\n');
  const column = before.at(-1)!.length + 1;
  return before.length === 1 && !text.includes('\n')
    ? ` (column ${column})`
    : ` (line ${before.length}, column ${column})`;
}

/** Converts an environment string to the type its setting wants; leaves it alone if it cannot. */
function fromEnv(raw: string, schema: SchemaNode): { value: unknown } | { problem: string } {
  const text = raw.trim();
  switch (schema.type) {
    case 'integer':
    case 'number':
      return /^-?\d+(\.\d+)?$/.test(text) ? { value: Number(text) } : { value: text };
    case 'boolean':
      if (/^(true|1|yes|on)$/i.test(text)) return { value: true };
      if (/^(false|0|no|off)$/i.test(text)) return { value: false };
      return { value: text };
    case 'array':
      return {
        value:
          text === ''
            ? []
            : text
                .split(',')
                .map((part) => part.trim())
                .filter(Boolean),
      };
    case 'object': {
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (error) {
        return { problem: `is not valid JSON${jsonErrorPlace(error, text)}` };
      }
      const shape = jsonShapeProblem(value);
      return shape === undefined ? { value } : { problem: shape.problem };
    }
    default:
      return { value: raw };
  }
}

/** Variables under the BULWARK_ prefix that are not settings but are read elsewhere. */
const OTHER_BULWARK_VARS = new Set<string>([]);

function readEnv(
  env: Record<string, string | undefined>,
  raw: Json,
  sources: Map<string, string>,
  problems: string[],
): void {
  const known = new Set<string>(OTHER_BULWARK_VARS);
  for (const setting of settings) {
    known.add(setting.envName);
    for (const alias of setting.aliases) known.add(alias);
    const name = [setting.envName, ...setting.aliases].find(
      (n) => env[n] !== undefined && env[n] !== '',
    );
    if (name === undefined) continue;
    const parsed = fromEnv(env[name]!, setting.schema);
    if ('problem' in parsed) {
      problems.push(
        `${name} (${setting.path}) ${parsed.problem}. Fix: set it to ${describeExpected(setting.schema)}.`,
      );
      continue;
    }
    setPath(raw, setting.path.split('.'), parsed.value);
    sources.set(setting.path, name);
  }
  // A typo in a security setting must not be silently ignored.
  for (const name of Object.keys(env)) {
    if (!name.startsWith('BULWARK_') || known.has(name)) continue;
    const guess = closestSetting(name);
    problems.push(
      `${name} is not a Bulwark setting. Fix: ${guess ? `did you mean ${guess}? ` : ''}see docs/config.md for the list, or unset it.`,
    );
  }
}

/** Deeper than any setting goes (access.roles.<role>.permissions is 4), with room to spare. */
const MAX_FILE_DEPTH = 16;
const POISONED_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * What is wrong with the shape of JSON settings (a config file, an object setting from the
 * environment) before they are merged: nesting deeper than any setting (which would overflow the
 * merge's recursion: a stack trace instead of a message), a key that names an object's prototype
 * (never a setting, and refused rather than dropped in silence), or a number JSON.parse could
 * only read as Infinity. Walked without recursion.
 */
function jsonShapeProblem(parsed: unknown): { problem: string; fix: string } | undefined {
  const check = 'check it against docs/config.md';
  const stack: { value: unknown; path: string; depth: number }[] = [
    { value: parsed, path: '', depth: 1 },
  ];
  while (stack.length > 0) {
    const { value, path, depth } = stack.pop()!;
    if (depth > MAX_FILE_DEPTH)
      return { problem: `nests deeper than ${MAX_FILE_DEPTH} levels (at ${path})`, fix: check };
    const entries = Array.isArray(value)
      ? value.map((item, index) => [String(index), item] as const)
      : isPlainObject(value)
        ? Object.entries(value)
        : [];
    for (const [key, child] of entries) {
      const at = path === '' ? key : `${path}.${key}`;
      if (POISONED_KEYS.has(key) && !Array.isArray(value))
        return {
          problem: `holds the key "${key}" (at ${at}), which is never a setting`,
          fix: 'remove it',
        };
      // JSON.parse reads 1e400 as Infinity, which every later step would report as null.
      if (typeof child === 'number' && !Number.isFinite(child))
        return { problem: `holds a number out of range (at ${at})`, fix: check };
      stack.push({ value: child, path: at, depth: depth + 1 });
    }
  }
  return undefined;
}

function readFile(
  file: string,
  cwd: string | undefined,
  raw: Json,
  sources: Map<string, string>,
  problems: string[],
): Json | undefined {
  let text: string;
  try {
    // Named in the messages as given: the operator recognises what they typed.
    const path = cwd === undefined ? file : resolve(cwd, file);
    text = readFileBoundedSync(path, SETTINGS_FILE_MAX_BYTES).toString('utf8');
  } catch (error) {
    problems.push(
      `--config ${file} cannot be read (${readFailure(error)}). Fix: pass the path of a readable JSON file.`,
    );
    return undefined;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    problems.push(
      `--config ${file} is not valid JSON${jsonErrorPlace(error, text)}. Fix: check the file with a JSON linter.`,
    );
    return undefined;
  }
  if (!isPlainObject(parsed)) {
    problems.push(`--config ${file} must hold a JSON object. Fix: wrap the settings in { }.`);
    return undefined;
  }
  const shape = jsonShapeProblem(parsed);
  if (shape !== undefined) {
    problems.push(`--config ${file} ${shape.problem}. Fix: ${shape.fix}.`);
    return undefined;
  }
  deepMerge(raw, parsed);
  for (const setting of settings) {
    let node: unknown = parsed;
    for (const key of setting.path.split('.')) node = isPlainObject(node) ? node[key] : undefined;
    if (node !== undefined) sources.set(setting.path, `${file}: ${setting.path}`);
  }
  return parsed;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/**
 * Builds the configuration from defaults, an optional JSON file, the environment and programmatic
 * overrides (in that order of precedence, last wins), validates it once and freezes it.
 * @throws ConfigError naming every bad setting, its problem and the fix.
 */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const raw = Object.create(null) as Json;
  const sources = new Map<string, string>();
  const problems: string[] = [];
  const data =
    options.file === undefined
      ? undefined
      : readFile(options.file, options.cwd, raw, sources, problems);
  const file = data === undefined ? undefined : { name: options.file!, data };
  readEnv(options.env ?? process.env, raw, sources, problems);
  if (options.overrides) deepMerge(raw, JSON.parse(JSON.stringify(options.overrides)) as Json);

  // Every problem at once, so that one deploy-fix-redeploy round fixes them all: a misspelt
  // variable must not hide a bad value elsewhere. The values that could not be read are left
  // out of the candidate, so they are not reported twice.
  const candidate = JSON.parse(JSON.stringify(raw)) as Json;
  if (!validate(candidate)) {
    throw new ConfigError([
      ...problems,
      ...summarise(validate.errors ?? []).map((e) => describeAjvError(e, candidate, sources, file)),
    ]);
  }
  // The rules assume a candidate of the schema's shape, so they run only on one.
  problems.push(...checkConfigRules(candidate, (path) => sources.get(path) ?? path));
  if (problems.length > 0) throw new ConfigError(problems);
  return deepFreeze(candidate);
}

/**
 * Validates programmatic settings on top of the defaults, ignoring the environment and any file
 * (tests, scripts). Services should use `loadConfig({ overrides })`, which reads both.
 * @throws ConfigError when NODE_ENV is production and `input.env` is not set: the environment
 * would be ignored and the service would start in development mode.
 */
export function createConfig(input: ConfigInput = {}): Config {
  if (input.env === undefined && process.env.NODE_ENV === 'production') {
    throw new ConfigError([
      'createConfig() ignores the environment, but NODE_ENV is production: the result would be a development configuration. Fix: build the configuration with loadConfig({ overrides }), which reads the environment, or pass env explicitly.',
    ]);
  }
  return loadConfig({ env: {}, overrides: input });
}
