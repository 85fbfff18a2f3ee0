import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';

/*
 * The TypeScript examples of README.md and docs/library.md, type-checked as a library user's
 * strict project would compile them, importing 'bulwark' through the package's own exports (the
 * built dist/, which npm test builds first). An example that no longer compiles fails here.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
// Inside the package, so that `import 'bulwark'` resolves to the package itself.
const DIR = join(ROOT, 'test', 'docs', '.examples');

function examples(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return [...text.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

function diagnostics(files: string[]): string[] {
  const program = ts.createProgram(files, {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: ['node'],
  });
  return ts
    .getPreEmitDiagnostics(program)
    .map((d) =>
      `${d.file?.fileName ?? ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`.trim(),
    );
}

describe('library examples in the docs', () => {
  afterAll(() => rmSync(DIR, { recursive: true, force: true }));

  it('compile under strict TypeScript against the published types', () => {
    mkdirSync(DIR, { recursive: true });
    const files: string[] = [];
    for (const doc of ['README.md', 'docs/library.md']) {
      examples(doc).forEach((code, i) => {
        // .mts: an ES module in the package's own scope, where `bulwark` names the package itself.
        const file = join(DIR, `${doc.replace(/\W/g, '-')}-${i}.mts`);
        // Each example is its own module.
        writeFileSync(file, `${code}\nexport {};\n`);
        files.push(file);
      });
    }
    expect(files.length).toBeGreaterThanOrEqual(2);
    expect(diagnostics(files)).toEqual([]);
  }, 60_000);
});
