import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, runNode } from '../helpers/process.js';

/*
 * What a token or a scanned server chose reaches the terminal of whoever runs the CLI. An ESC
 * sequence in it must not reach the terminal raw (clear the screen, rewrite the verdict line,
 * set the window title), nor a C1 CSI or a bidi override that makes a FAIL line read otherwise.
 */

// C0 but newline (the CLI's own line breaks), DEL, C1, bidi overrides and isolates.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bulwark-terminal-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('control characters from hostile input in CLI output', () => {
  it('bulwark jwt verify escapes them in a token’s alg, typ, crit and claims', async () => {
    const header = {
      alg: 'X\u001b[2J\u001b]0;pwned\u0007',
      typ: 'at+jwt\u009b31m',
      crit: ['\u001b[1A\u001b[2KVALID'],
    };
    const payload = { sub: 'a\u202eb', exp: Math.floor(Date.now() / 1000) + 60 };
    const file = join(dir, 'token');
    await writeFile(file, `${b64(header)}.${b64(payload)}.AAAA`);
    const run = await runNode([BIN, 'jwt', 'verify', '--token-file', file], { timeoutMs: 30_000 });
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^INVALID/);
    expect(run.stdout).not.toMatch(RAW_CONTROL);
    // Still readable: the escapes are shown, not dropped.
    expect(run.stdout).toContain('alg "X\\u001b[2J\\u001b]0;pwned\\u0007"');
    expect(run.stdout).toContain('\\u009b31m');
    expect(run.stdout).toContain('a\\u202eb');
  });

  describe('bulwark audit', () => {
    let server: Server;
    let url: string;
    beforeAll(async () => {
      server = createServer((req, res) => {
        if (req.url === '/openapi.json') {
          res.setHeader('content-type', 'application/json');
          res.end(
            JSON.stringify({
              openapi: '3.1.0',
              info: { title: 'x', version: '1' },
              paths: { '/v1/ok': { get: {} }, '/a\u001b[2J\u001b]0;pwned\u0007': { get: {} } },
            }),
          );
          return;
        }
        // Header values are read as latin1: byte 0x9b arrives as U+009B, a C1 CSI.
        res.setHeader('x-powered-by', Buffer.from('Evil\x9b31m', 'latin1').toString('latin1'));
        res.statusCode = 500;
        res.end('TypeError: \u001b[2J boom');
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      await new Promise((resolve) => server.close(resolve));
    });

    it('escapes them in the routes, headers and text the target sent', async () => {
      const run = await runNode([BIN, 'audit', url, '--rate-limit-requests', '3'], {
        timeoutMs: 60_000,
      });
      expect(run.stderr).toBe('');
      expect(run.stdout).toContain('headers.fingerprint');
      expect(run.stdout).not.toMatch(RAW_CONTROL);
      expect(run.stdout).toContain('GET /a\\u001b[2J\\u001b]0;pwned\\u0007');
      expect(run.stdout).toContain('\\u009b31m');
    });
  });
});
