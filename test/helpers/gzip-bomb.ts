import type { ServerResponse } from 'node:http';
import { gzipSync } from 'node:zlib';

// 64 MiB of "A" compresses to ~64 KiB; sent 64 times it is 4 GiB once inflated.
let member: Buffer | undefined;

/**
 * Answers a JSON body that starts with `prefix` (an unterminated string) and then inflates to
 * 4 GiB: a few MiB on the wire, gzip-encoded, sent as fast as the reader takes it.
 */
export function sendGzipBomb(res: ServerResponse, prefix: string): void {
  member ??= gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x41), { level: 9 });
  const chunk = member;
  res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
  res.write(gzipSync(prefix));
  let sent = 0;
  const more = (): void => {
    while (sent < 64) {
      sent += 1;
      if (!res.write(chunk)) {
        res.once('drain', more);
        return;
      }
    }
    res.end(gzipSync('"}'));
  };
  more();
}
