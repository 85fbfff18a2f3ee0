import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { errorCatalog } from '../../src/errors.js';

const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
const rows = [...doc.matchAll(/^\|\s*`([a-z_]+)`\s*\|\s*(\d{3})\s*\|/gm)].map((m) => ({
  code: m[1]!,
  status: Number(m[2]),
}));

describe('docs/errors.md', () => {
  it('documents every catalog code with its status, and nothing else', () => {
    const documented = Object.fromEntries(rows.map((r) => [r.code, r.status]));
    const catalog = Object.fromEntries(
      Object.entries(errorCatalog).map(([code, e]) => [code, e.status]),
    );
    expect(documented).toEqual(catalog);
  });

  it('lists each code once', () => {
    expect(new Set(rows.map((r) => r.code)).size).toBe(rows.length);
  });
});
