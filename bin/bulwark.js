#!/usr/bin/env node
// Thin launcher: the CLI lives in dist/ (npm run build compiles it from src/).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/index.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write(
    'bulwark: not built yet. Run `npm run build` (npm start does it for you).\n',
  );
  process.exit(1);
}
const { main } = await import(entry.href);
const code = await main(process.argv.slice(2));
if (code >= 0) process.exitCode = code;
