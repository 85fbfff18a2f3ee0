import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createConfig, type ConfigInput } from '../../src/config/index.js';
import { evaluatePosture } from '../../src/posture/index.js';

// The deployment examples of docs/operations.md ("Under systemd") are files operators copy: they
// must keep working as the product changes. (`systemd-analyze verify` needs systemd, which CI
// does not install: what the unit asks of Bulwark and Node is checked here instead.)
const EXAMPLES = new URL('../../docs/examples/', import.meta.url);
const settingsFile = fileURLToPath(new URL('bulwark.json', EXAMPLES));
const settings = JSON.parse(readFileSync(settingsFile, 'utf8')) as ConfigInput;
const unit = readFileSync(new URL('bulwark.service', EXAMPLES), 'utf8');

/** Every `Key=value` of the unit, in order (a key may repeat). */
const directives: [string, string][] = unit
  .split('\n')
  .map((line) => /^([A-Za-z]+)=(.*)$/.exec(line.trim()))
  .filter((match): match is RegExpExecArray => match !== null)
  .map((match) => [match[1]!, match[2]!]);
const values = (key: string): string[] =>
  directives.filter(([name]) => name === key).map(([, value]) => value);
const value = (key: string): string => {
  const found = values(key);
  expect(found, key).toHaveLength(1);
  return found[0]!;
};
/** `Environment=NAME=value` lines as a map. */
const environment = new Map(
  values('Environment').map((line) => [
    line.slice(0, line.indexOf('=')),
    line.slice(line.indexOf('=') + 1),
  ]),
);

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('the systemd example', () => {
  it('has settings that pass the production posture with the key from the environment', () => {
    // The unit's EnvironmentFile gives BULWARK_MASTER_KEY; the file itself holds no secret, so a
    // world-readable copy (0644, as the docs install it) is accepted.
    const dir = mkdtempSync(join(tmpdir(), 'bulwark-deploy-'));
    dirs.push(dir);
    const installed = join(dir, 'bulwark.json');
    copyFileSync(settingsFile, installed);
    chmodSync(installed, 0o644);
    const config = createConfig({
      ...settings,
      env: 'production',
      keys: { masterKey: randomBytes(32).toString('base64'), devKeyFile: join(dir, 'none.json') },
    });
    const findings = evaluatePosture(config, { configFile: installed, nodeVersion: '22.11.0' });
    expect(findings.filter((f) => f.status === 'fail')).toEqual([]);
    expect(findings.find((f) => f.check === 'keys.file-modes')?.status).toBe('pass');
  });

  it('runs `bulwark serve` with those settings as an unprivileged user, stopped by SIGTERM', () => {
    const [node, bin, ...args] = value('ExecStart').split(' ');
    expect(node).toBe('/usr/bin/node');
    expect(bin).toBe(`${value('WorkingDirectory')}/bin/bulwark.js`);
    expect(args).toEqual(['serve', '--config', '/etc/bulwark/bulwark.json']);
    expect(value('User')).not.toBe('root');
    expect(value('KillSignal')).toBe('SIGTERM');
    // Graceful stop: systemd waits longer than the service lets requests finish.
    const { shutdownTimeoutMs } = createConfig(settings).server;
    expect(Number(value('TimeoutStopSec')) * 1000).toBeGreaterThan(shutdownTimeoutMs);
    expect(value('ExecReload')).toBe('/bin/kill -HUP $MAINPID');
    expect(environment.get('NODE_ENV')).toBe('production');
    // The SQLite file lives in the state directory systemd creates for the service user.
    expect(createConfig(settings).database.sqlitePath).toBe(
      `/var/lib/${value('StateDirectory')}/bulwark.db`,
    );
    // V8 writes machine code at run time: this would stop Node at its first compile.
    expect(values('MemoryDenyWriteExecute')).toEqual([]);
  });

  it('sets memory options this Node.js accepts', () => {
    // A flag Node does not know in NODE_OPTIONS stops every start with "is not allowed".
    const result = spawnSync(process.execPath, ['-e', 'process.exit(0)'], {
      env: {
        PATH: process.env.PATH ?? '',
        NODE_OPTIONS: environment.get('NODE_OPTIONS') ?? '',
        MALLOC_ARENA_MAX: environment.get('MALLOC_ARENA_MAX') ?? '',
      },
      encoding: 'utf8',
    });
    expect(result.status, result.stderr).toBe(0);
    expect(environment.get('NODE_OPTIONS')).toBe('--max-semi-space-size=4');
    expect(environment.get('MALLOC_ARENA_MAX')).toBe('2');
  });
});
