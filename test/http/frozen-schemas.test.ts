import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SCHEMA_MODULES, frozenSource } from '../../scripts/freeze-schemas.mjs';

// `npm test` builds first, so dist/ holds the frozen schema modules the server runs with.
const SRC = new URL('../../src/', import.meta.url);
const DIST = new URL('../../dist/', import.meta.url);

describe('schema modules frozen to JSON by the build', () => {
  it.each(SCHEMA_MODULES)(
    'dist/%s.js exports the same schemas as src, without TypeBox',
    async (name) => {
      const built = (await import(new URL(`${name}.js`, DIST).href)) as Record<string, unknown>;
      const source = (await import(new URL(`${name}.ts`, SRC).href)) as Record<string, unknown>;
      expect(Object.keys(built).sort()).toEqual(Object.keys(source).sort());
      for (const [key, value] of Object.entries(source))
        expect(built[key], key).toStrictEqual(value);
      expect(readFileSync(new URL(`${name}.js`, DIST), 'utf8')).not.toMatch(/typebox|import /);
    },
  );

  it('refuses a module export that is not plain JSON', () => {
    expect(() => frozenSource('x', { ok: { type: 'string' }, f: () => 1 })).toThrow(/export f/);
    expect(() => frozenSource('x', { u: { type: 'string', default: undefined } })).toThrow(
      /export u/,
    );
    expect(() => frozenSource('x', { s: { type: 'string', [Symbol('kind')]: 'String' } })).toThrow(
      /export s/,
    );
    expect(() => frozenSource('x', { d: { type: 'string', default: new Date(0) } })).toThrow(
      /export d/,
    );
  });

  it('writes the same module again from a frozen one', async () => {
    const built = (await import(new URL('users/schema.js', DIST).href)) as Record<string, unknown>;
    expect(frozenSource('users/schema', built)).toBe(
      readFileSync(new URL('users/schema.js', DIST), 'utf8'),
    );
  });
});
