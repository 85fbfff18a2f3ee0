// Copies the files of src/ that tsc does not emit (worker entry points, which must run without a
// TypeScript loader, the generated config validator, and the tool pages of src/tools/public) to
// the same place under dist/.
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');
const dist = join(root, 'dist');

function* assets(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* assets(path);
    else if (entry.name.endsWith('.mjs') || entry.name.endsWith('.cjs')) yield path;
    // The tool pages and their browser scripts and styles, served as they are.
    else if (relative(src, path).startsWith(join('tools', 'public'))) yield path;
  }
}

for (const file of assets(src)) {
  const target = join(dist, relative(src, file));
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(file, target);
}
