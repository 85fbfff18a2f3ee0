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
// A stop asked for while the CLI's modules load (~0.1 s, before any command has handlers of its
// own) would kill the server without a word. It is held here and sent again once `serve` has
// started: it installs its handlers as soon as it is called, so it logs the stop and exits 0.
// Every other command gets the signal back before it starts and ends by it, as it would have;
// holding it any longer would leave a command that is busy synchronously deaf to SIGTERM.
let held;
const hold = (signal) => {
  held ??= signal;
};
const signals = ['SIGTERM', 'SIGINT', 'SIGHUP'];
for (const signal of signals) process.on(signal, hold);
const { main, takesOverSignals } = await import(entry.href);
const argv = process.argv.slice(2);
const release = () => {
  for (const signal of signals) process.off(signal, hold);
  if (held !== undefined) process.kill(process.pid, held);
};
const serving = takesOverSignals(argv);
if (!serving) release();
const running = main(argv);
if (serving) release();
const code = await running;
if (code >= 0) process.exitCode = code;
