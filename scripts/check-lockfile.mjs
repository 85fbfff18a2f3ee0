#!/usr/bin/env node
// Supply-chain checks on package-lock.json that `npm ci` itself does not make:
// every package pinned by a sha512 integrity, no source other than the npm registry, and install
// scripts only for the packages approved in package.json's allowScripts.
import { readFileSync } from 'node:fs';

const lock = JSON.parse(readFileSync(new URL('../package-lock.json', import.meta.url), 'utf8'));
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const approved = new Set(
  Object.entries(pkg.allowScripts ?? {})
    .filter(([, allowed]) => allowed === true)
    .map(([name]) => name.replace(/@[^@/]+$/, '')),
);
const problems = [];
let count = 0;
for (const [path, entry] of Object.entries(lock.packages ?? {})) {
  if (path === '' || entry.link) continue;
  count++;
  const name = entry.name ?? path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
  if (!entry.integrity?.startsWith('sha512-')) problems.push(`${name}: no sha512 integrity`);
  if (entry.resolved && !entry.resolved.startsWith('https://registry.npmjs.org/')) {
    problems.push(`${name}: resolved from ${entry.resolved}, not the npm registry`);
  }
  if (entry.hasInstallScript && !approved.has(name)) {
    problems.push(`${name}: has an install script that package.json allowScripts does not approve`);
  }
}
if (problems.length > 0) {
  console.error(`lockfile check failed:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(
  `lockfile check: ${count} packages pinned by sha512, install scripts only for: ${[...approved].join(', ') || 'none'}`,
);
