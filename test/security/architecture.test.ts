import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/*
 * Imports run one way: cli → app → capabilities → tokens / access / http →
 * crypto / db / store / mail → config / errors. A module may import its own unit and anything below it, never above.
 */
const LEVEL: Record<string, number> = {
  cli: 6,
  'app.ts': 5,
  'server.ts': 5,
  'services.ts': 5,
  services: 5,
  'index.ts': 5,
  auth: 4,
  users: 4,
  audit: 4,
  'rate-limit': 4,
  metrics: 4,
  oidc: 4,
  posture: 4,
  scan: 4,
  tools: 4,
  tokens: 3,
  access: 3,
  http: 3,
  crypto: 2,
  db: 2,
  store: 2,
  mail: 2,
  config: 1,
  files: 1,
  'errors.ts': 1,
  'start-checkpoint.ts': 1,
  'security-events.ts': 1,
  'version.ts': 1,
};

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

const unitOf = (path: string): string => relative(SRC, path).split('/')[0]!;

/** Every relative import in src that points to a higher layer: "file -> unit". */
export function upwardImports(files: { path: string; text: string }[]): string[] {
  const found: string[] = [];
  for (const { path, text } of files) {
    const from = unitOf(path);
    for (const match of text.matchAll(/from '(\.[^']+)'/g)) {
      const to = unitOf(resolve(dirname(path), match[1]!.replace(/\.js$/, '.ts')));
      if (to === from) continue;
      if ((LEVEL[to] ?? Infinity) > (LEVEL[from] ?? -Infinity)) {
        found.push(`${relative(SRC, path)} -> ${to}`);
      }
    }
  }
  return found;
}

describe('architecture', () => {
  const files = sources(SRC).map((path) => ({ path, text: readFileSync(path, 'utf8') }));

  it('knows the layer of every unit in src/', () => {
    const units = new Set(files.map((f) => unitOf(f.path)));
    expect([...units].filter((u) => LEVEL[u] === undefined)).toEqual([]);
  });

  it('has no import that goes up a layer', () => {
    expect(upwardImports(files)).toEqual([]);
  });

  it('defines the JSON object guard once, where scan and tools both import it from', () => {
    const defining = files
      .filter((f) => /\b(?:const|function) isObject\b/.test(f.text))
      .map((f) => relative(SRC, f.path));
    expect(defining).toEqual(['tools/jwt-inspect.ts']);
  });

  it('decides what is loopback in one place (src/config/loopback.ts)', () => {
    // Five hand-written copies disagreed: two took any name starting with "127." for loopback.
    const defining = files
      .filter((f) => /\b(?:const|function) isLoopback\w*\b/.test(f.text))
      .map((f) => relative(SRC, f.path));
    expect(defining).toEqual(['config/loopback.ts']);
  });

  it('catches an upward import (self-test)', () => {
    const bad = { path: join(SRC, 'db', 'x.ts'), text: "import { buildApp } from '../app.js';" };
    expect(upwardImports([bad])).toEqual(['db/x.ts -> app.ts']);
  });

  it('takes Kysely at run time only from src/db/kysely.ts (its CommonJS build, loaded once)', () => {
    // A value import of 'kysely' elsewhere loads its ES-module build as well: a second copy of
    // ~260 files that every command and every server start then pays for.
    const direct = files
      .filter(({ path }) => relative(SRC, path) !== join('db', 'kysely.ts'))
      .filter(({ text }) => /^import (?!type )[^;]*from 'kysely(\/[^']*)?';/m.test(text))
      .map(({ path }) => relative(SRC, path));
    expect(direct).toEqual([]);
  });

  it('loads openid-client and jose only when a provider or a tool needs them', () => {
    // A static value import of either in a module the service loads at start costs every
    // deployment ~9 MB and ~100 ms, OpenID Connect or not (issue #8). The service loads
    // openid-client through src/oidc/openid-client.ts; the tools load theirs with their command.
    const eager = files
      .filter(({ path }) => unitOf(path) !== 'tools')
      .filter(({ text }) => /^import (?!type )[^;]*from '(jose|openid-client)';/m.test(text))
      .map(({ path }) => relative(SRC, path));
    expect(eager).toEqual([]);
  });
});
