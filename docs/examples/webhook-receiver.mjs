// A receiver for Bulwark's audit webhook (docs/operations.md, "Webhook"): checks the signature
// in constant time, refuses timestamps more than 5 minutes away (replays), answers 204.
// Run: BULWARK_WEBHOOK_SECRET=… node webhook-receiver.mjs   (127.0.0.1:8787, or PORT)
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';

const secret = process.env.BULWARK_WEBHOOK_SECRET;
if (!secret) throw new Error('set BULWARK_WEBHOOK_SECRET to audit.webhook.secret');
const MAX_SKEW_SECONDS = 300;
const MAX_BODY_BYTES = 64 * 1024;

/** True when `header` signs `body` with the secret, at a time close enough to now. */
function verified(header, body) {
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
  if (match === null) return false;
  const [, timestamp, mac] = match;
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > MAX_SKEW_SECONDS) return false;
  const expected = createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest();
  return timingSafeEqual(Buffer.from(mac, 'hex'), expected);
}

const server = createServer((req, res) => {
  const chunks = [];
  let size = 0;
  req.on('data', (chunk) => {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) req.destroy();
    else chunks.push(chunk);
  });
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    if (req.method !== 'POST' || !verified(req.headers['x-bulwark-signature'], body)) {
      res.writeHead(401).end();
      return;
    }
    const { event } = JSON.parse(body.toString('utf8'));
    console.log(JSON.stringify({ received: event.type, outcome: event.outcome, time: event.time }));
    res.writeHead(204).end();
  });
});
server.listen(Number(process.env.PORT ?? 8787), '127.0.0.1', () => {
  console.log(JSON.stringify({ listening: `http://127.0.0.1:${server.address().port}` }));
});
