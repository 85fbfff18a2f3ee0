import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  headers: IncomingMessage['headers'];
  body: string;
}

/** Never answered: the request hangs until the receiver stops. */
export const HANG = 0;

/**
 * A real HTTP receiver on loopback that answers with the statuses it is told, in order (then
 * 204), each after `answerAfterMs`.
 */
export class WebhookReceiver {
  readonly received: Received[] = [];
  private readonly server: Server;
  url = '';

  constructor(
    private readonly statuses: number[] = [],
    answerAfterMs = 0,
  ) {
    this.server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      request.on('end', () => {
        this.received.push({ headers: request.headers, body });
        const status = this.statuses.shift() ?? 204;
        if (status === HANG) return;
        setTimeout(() => response.writeHead(status).end(), answerAfterMs);
      });
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
    return this;
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
