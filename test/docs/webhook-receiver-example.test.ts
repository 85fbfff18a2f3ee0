import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SIGNATURE_HEADER, webhookSignature } from '../../src/audit/webhook-sink.js';

// docs/examples/webhook-receiver.mjs is what operators start from: it must accept what Bulwark
// signs (the sink's own signature function) and refuse what it did not, or signed long ago.
const RECEIVER = fileURLToPath(
  new URL('../../docs/examples/webhook-receiver.mjs', import.meta.url),
);
const secret = randomBytes(32).toString('hex');
let child: ChildProcess;
let url: string;
const lines: string[] = [];

beforeAll(async () => {
  child = spawn(process.execPath, [RECEIVER], {
    env: { PATH: process.env.PATH ?? '', BULWARK_WEBHOOK_SECRET: secret, PORT: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  url = await new Promise<string>((resolve, reject) => {
    let buffered = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      let newline: number;
      while ((newline = buffered.indexOf('\n')) !== -1) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        const { listening } = JSON.parse(line) as { listening?: string };
        if (listening === undefined) lines.push(line);
        else resolve(listening);
      }
    });
    child.once('exit', (code) => reject(new Error(`receiver exited ${code}`)));
  });
});
afterAll(() => {
  child.kill();
});

async function deliver(body: string, signature: string): Promise<number> {
  const res = await fetch(`${url}/hook`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signature },
    body,
  });
  return res.status;
}

describe('the webhook receiver example', () => {
  const body = JSON.stringify({
    event: { type: 'refresh.reused', outcome: 'denied', time: Date.now() },
  });
  const now = Math.floor(Date.now() / 1000);

  it('accepts a delivery signed as Bulwark signs it', async () => {
    expect(await deliver(body, webhookSignature(secret, now, body))).toBe(204);
    await expect.poll(() => lines.length).toBe(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ received: 'refresh.reused', outcome: 'denied' });
  });

  it('refuses another secret, another body, an old timestamp and no signature', async () => {
    const other = randomBytes(32).toString('hex');
    expect(await deliver(body, webhookSignature(other, now, body))).toBe(401);
    expect(await deliver(`${body} `, webhookSignature(secret, now, body))).toBe(401);
    expect(await deliver(body, webhookSignature(secret, now - 600, body))).toBe(401);
    expect(await deliver(body, '')).toBe(401);
    expect(lines).toHaveLength(1);
  });
});
