import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { BIN, ROOT, runNode } from '../helpers/process.js';

describe('bulwark tools (CLI)', () => {
  it('serves on a loopback port until SIGTERM, then exits 0', async () => {
    const child = spawn(process.execPath, [BIN, 'tools', '--port', '0'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no URL printed: ${stdout} ${stderr}`)),
        20_000,
      );
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        const found = /^Bulwark tools on (http:\/\/127\.0\.0\.1:\d+):/.exec(stdout)?.[1];
        if (found) {
          clearTimeout(timer);
          resolve(found);
        }
      });
    });
    const page = await fetch(`${url}/jwt`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<h1>JWT verifier</h1>');
    const exit = new Promise<number | null>((resolve) => child.on('close', resolve));
    child.kill('SIGTERM');
    expect(await exit).toBe(0);
    expect(stderr).toBe('');
  });

  it.each([
    [['--host', '0.0.0.0'], '--host must be a loopback address'],
    [['--port', 'http'], '--port must be a port number'],
    [['extra'], 'tools takes no arguments'],
  ])('refuses %j with exit 2', async (args, message) => {
    const run = await runNode([BIN, 'tools', ...args]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
  });
});
