import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { describeExpected, settings } from '../../src/config/settings.js';

const DOC = new URL('../../docs/config.md', import.meta.url);
const BEGIN = '<!-- settings:begin (generated: UPDATE_DOCS=1 npx vitest run test/docs) -->';
const END = '<!-- settings:end -->';

/** The reference table, generated from the schema so defaults and ranges cannot drift. */
function table(): string {
  const rows = settings.map((s) => {
    const env = [s.envName, ...s.aliases].map((n) => `\`${n}\``).join(', ');
    const def = s.schema.default === undefined ? '—' : `\`${JSON.stringify(s.schema.default)}\``;
    const description = (s.schema.description ?? '').replace(/\|/g, '\\|');
    return `| \`${s.path}\` | ${env} | ${def} | ${description} Accepts ${describeExpected(s.schema)}. |`;
  });
  return [
    '| setting | environment | default | meaning |',
    '| --- | --- | --- | --- |',
    ...rows,
  ].join('\n');
}

/** Compares tables cell by cell, so Prettier's column alignment does not matter. */
function cells(markdown: string): string[][] {
  return markdown
    .trim()
    .split('\n')
    .map((line) =>
      line
        .split(/(?<!\\)\|/)
        .slice(1, -1)
        .map((cell) => cell.trim().replace(/^-+$/, '---')),
    );
}

describe('docs/config.md', () => {
  it('documents every setting with its current default and range', () => {
    let doc = readFileSync(DOC, 'utf8');
    const start = doc.indexOf(BEGIN);
    const end = doc.indexOf(END);
    expect(start, 'settings markers missing').toBeGreaterThan(-1);
    const current = doc.slice(start + BEGIN.length, end).trim();
    if (
      process.env.UPDATE_DOCS === '1' &&
      JSON.stringify(cells(current)) !== JSON.stringify(cells(table()))
    ) {
      doc = `${doc.slice(0, start + BEGIN.length)}\n${table()}\n${doc.slice(end)}`;
      writeFileSync(DOC, doc);
      return;
    }
    expect(cells(current)).toEqual(cells(table()));
  });
});
