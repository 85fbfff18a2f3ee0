import { createServer, connect, type Server, type Socket } from 'node:net';
import { portBelowEphemeralRange } from './redis.js';

/**
 * A loopback TCP proxy to a real server (PostgreSQL, Redis) that a test can cut and restore, to
 * see what the service does when a dependency goes away and comes back. Only loopback.
 */
export class TcpProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private frozen = false;

  private constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
    public port: number,
  ) {}

  /**
   * Starts a proxy to `targetHost:targetPort` on a free loopback port below the ephemeral range:
   * restore() listens on the same port again after cut(), and a port that listen(0) gives out
   * could meanwhile have gone to another test file's server (EADDRINUSE on restore).
   */
  static async start(targetHost: string, targetPort: number): Promise<TcpProxy> {
    const proxy = new TcpProxy(targetHost, targetPort, await portBelowEphemeralRange());
    await proxy.listen();
    return proxy;
  }

  /** Drops every connection and refuses new ones, like a server that went down. */
  async cut(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise((resolve) => server.close(resolve));
  }

  /**
   * Stops forwarding without closing anything, like a peer that hangs or a network partition:
   * connections stay open, nothing is answered. restore() lets the traffic through again.
   */
  freeze(): void {
    this.frozen = true;
    for (const socket of this.sockets) socket.pause();
  }

  /** Accepts and forwards again after cut() or freeze(). */
  async restore(): Promise<void> {
    this.frozen = false;
    for (const socket of this.sockets) socket.resume();
    if (!this.server) await this.listen();
  }

  async close(): Promise<void> {
    await this.cut();
  }

  private listen(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.targetPort, this.targetHost);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => undefined);
        if (this.frozen) socket.pause();
      }
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      client.pipe(upstream);
      upstream.pipe(client);
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => {
        const address = server.address();
        if (typeof address === 'object' && address) this.port = address.port;
        resolve();
      });
    });
  }
}
