// Rewrites the compiled schema modules in dist/ as plain JSON, so the built server never loads
// TypeBox (~370 ES modules: ~150 ms of every start and ~10 MB of memory). TypeBox stays the
// source of the schemas and of their static types (src/**/schema.ts and the .d.ts files, which
// are left as tsc wrote them); only what the running server imports changes.
//
// A schema module may export JSON values only: the script evaluates each module with TypeBox and
// refuses (exit 1) any export that does not survive a JSON round trip unchanged, so a function, a
// symbol key or an undefined member cannot be lost silently. Running it again on frozen modules
// writes the same files. test/http/frozen-schemas.test.ts checks dist against src.
import { copyFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isDeepStrictEqual } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The schema modules, relative to src/ (and dist/). */
export const SCHEMA_MODULES = [
  'users/schema',
  'auth/schema',
  'oidc/schema',
  'audit/schema',
  'http/schema',
  'config/schema',
];

/** The source of a module exporting `exports` as JSON literals. */
export function frozenSource(name, exports) {
  const lines = [
    `// Frozen by scripts/freeze-schemas.mjs from src/${name}.ts: the TypeBox schemas as plain JSON (no TypeBox at run time).`,
  ];
  for (const [key, value] of Object.entries(exports).sort(([a], [b]) => a.localeCompare(b))) {
    const json = JSON.stringify(value);
    if (json === undefined || !isDeepStrictEqual(JSON.parse(json), value)) {
      throw new Error(
        `src/${name}.ts: export ${key} is not plain JSON; schema modules hold schemas only`,
      );
    }
    lines.push(`export const ${key} = ${json};`);
  }
  return `${lines.join('\n')}\n`;
}

const FROZEN_MARK = '// Frozen by scripts/freeze-schemas.mjs';

async function main() {
  for (const name of SCHEMA_MODULES) {
    const file = join(root, 'dist', `${name}.js`);
    // tsc's own output, kept beside the frozen module. The build is incremental: tsc writes a
    // module again only when its own source changed, but a schema can change without that (the
    // audit schema lists the event catalog of security-events.ts). So the schemas are always
    // evaluated from tsc's last output of the module, against the rest of dist as built now.
    const emitted = join(root, 'dist', `${name}.tsc.js`);
    if (!readFileSync(file, 'utf8').startsWith(FROZEN_MARK)) copyFileSync(file, emitted);
    else if (!existsSync(emitted)) {
      throw new Error(
        `dist/${name}.js is frozen but tsc's output of it is gone: delete dist/ and build again`,
      );
    }
    const exports = await import(pathToFileURL(emitted).href);
    const source = frozenSource(name, exports);
    if (readFileSync(file, 'utf8') === source) continue;
    writeFileSync(file, source);
    // The source map described tsc's output, not this one.
    rmSync(`${file}.map`, { force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((error) => {
    process.stderr.write(
      `freeze-schemas: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    process.exit(1);
  });
}
