import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect as tlsConnect, type PeerCertificate, type SecureVersion } from 'node:tls';
import type { ProbeResponse } from './types.js';

/** The most of a response body the scan keeps: enough to find a stack trace, bounded. */
export const MAX_BODY_BYTES = 256 * 1024;

/** The target could not be reached, or answered with something that is not HTTP. */
export class ProbeError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'ProbeError';
  }
}

/** The scan ran longer than it was allowed to. */
export class DeadlineExceededError extends Error {
  constructor(readonly limitMs: number) {
    super(`the scan took longer than ${Math.round(limitMs / 1000)} s (--max-duration)`);
    this.name = 'DeadlineExceededError';
  }
}

/** The scan would send more requests than it was allowed to. */
export class BudgetExceededError extends Error {
  constructor(readonly limit: number) {
    super(`the scan needed more than ${limit} requests (--max-requests)`);
    this.name = 'BudgetExceededError';
  }
}

export interface ProbeRequest {
  method?: string;
  /**
   * Path relative to the target's base path, starting with "/"; may carry a query string. With
   * `url`, only how the request is named (in the response's `path` and in errors).
   */
  path: string;
  /**
   * An absolute URL to send to instead of `path` under the base: the origin's root (`/.env` of
   * `https://host` when scanning `https://host/api`), or a JWKS the user named. Bounded and
   * counted like every other request.
   */
  url?: URL;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /**
   * How the request is named in errors and in the response's `path`, when `path` holds a secret
   * (`/me?access_token=…`): what the scan prints must never carry the token it was given.
   */
  label?: string;
  /** The most of the body to keep (default MAX_BODY_BYTES): more for discovery documents. */
  maxBodyBytes?: number;
}

export interface ClientOptions {
  timeoutMs: number;
  maxRequests: number;
  /** The whole scan's time limit: no request starts after it, none runs past it. */
  maxDurationMs?: number;
  ca?: string;
}

/**
 * The scan's HTTP client: one request per connection (no pooling surprises), every request
 * bounded in time, in body size and in number. Certificates are verified (extra CAs may be given);
 * the scan never turns verification off.
 */
export class ScanClient {
  /** Requests sent so far. */
  sent = 0;
  private readonly base: URL;
  /** The target's base path without its trailing slash ("" for the root). */
  private readonly prefix: string;
  /** When the scan must be over (epoch ms), or Infinity. */
  private readonly deadline: number;

  constructor(
    target: URL,
    private readonly options: ClientOptions,
  ) {
    this.base = new URL(target.origin);
    // "/prefix/" and "/prefix" mean the same base.
    this.prefix = target.pathname.replace(/\/+$/, '');
    this.deadline =
      options.maxDurationMs === undefined ? Infinity : Date.now() + options.maxDurationMs;
  }

  /** The time a request may take now: its own limit, cut to what is left of the scan's. */
  private timeLeft(): number {
    const left = this.deadline - Date.now();
    if (left <= 0) throw new DeadlineExceededError(this.options.maxDurationMs ?? 0);
    return Math.min(this.options.timeoutMs, left);
  }

  get https(): boolean {
    return this.base.protocol === 'https:';
  }

  get origin(): string {
    return this.base.origin;
  }

  /** The target's base path without its trailing slash: "" for the origin's root, or "/api". */
  get basePath(): string {
    return this.prefix;
  }

  /** The URL of a path on the target (the base path prefixed). */
  url(path: string): URL {
    return new URL(`${this.base.origin}${this.prefix}${path}`);
  }

  async send(probe: ProbeRequest): Promise<ProbeResponse> {
    if (
      probe.url !== undefined &&
      probe.url.protocol !== 'http:' &&
      probe.url.protocol !== 'https:'
    )
      throw new ProbeError(`${probe.path}: the scan sends over http and https only`, 'EPROTO');
    if (this.sent >= this.options.maxRequests)
      throw new BudgetExceededError(this.options.maxRequests);
    const timeoutMs = this.timeLeft();
    // The scan's deadline, not the request's own limit, is what a timeout would be: then it is
    // the scan that ran out of time, not the target that went silent (which ends the scan as
    // "stopped answering" when the request was one the scan needs).
    const cutByDeadline = timeoutMs < this.options.timeoutMs;
    this.sent += 1;
    const url = probe.url ?? this.url(probe.path);
    const shown = probe.label ?? probe.path;
    const maxBody = probe.maxBodyBytes ?? MAX_BODY_BYTES;
    const method = probe.method ?? 'GET';
    const body =
      probe.body === undefined
        ? undefined
        : typeof probe.body === 'string'
          ? Buffer.from(probe.body, 'utf8')
          : probe.body;
    const headers: Record<string, string> = {
      'user-agent': 'bulwark-audit',
      accept: 'application/json, application/problem+json;q=0.9, */*;q=0.1',
      ...probe.headers,
    };
    if (body !== undefined) headers['content-length'] = String(body.length);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<ProbeResponse>((resolve, reject) => {
      const req = send(url, {
        method,
        headers,
        agent: false,
        ...(this.options.ca === undefined ? {} : { ca: this.options.ca }),
      });
      const timer = setTimeout(() => {
        req.destroy(
          cutByDeadline
            ? new DeadlineExceededError(this.options.maxDurationMs ?? 0)
            : new ProbeError(
                `${method} ${shown}: no complete answer within ${timeoutMs} ms`,
                'ETIMEDOUT',
              ),
        );
      }, timeoutMs);
      req.on('error', (error: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(
          error instanceof ProbeError || error instanceof DeadlineExceededError
            ? error
            : new ProbeError(`${method} ${shown}: ${error.message}`, error.code ?? 'EPROTO'),
        );
      });
      req.on('response', (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let length = 0;
        let cut = false;
        const done = (): void => {
          clearTimeout(timer);
          const tlsSocket = res.socket as { getProtocol?: () => string | null };
          const protocol = tlsSocket.getProtocol?.() ?? undefined;
          resolve({
            method,
            path: shown,
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
            ...(protocol ? { tlsProtocol: protocol } : {}),
            ...(cut ? { truncated: true } : {}),
          });
        };
        res.on('data', (chunk: Buffer) => {
          if (length >= maxBody) return;
          const room = maxBody - length;
          chunks.push(chunk.length > room ? chunk.subarray(0, room) : chunk);
          length += Math.min(chunk.length, room);
          // The rest is not needed: stop reading a huge or endless body.
          if (length >= maxBody) {
            cut = true;
            res.destroy();
            done();
          }
        });
        res.on('end', done);
        res.on('error', (error) => {
          clearTimeout(timer);
          // A body cut short after the headers still tells the checks what they need.
          if (length > 0 || res.complete) done();
          else if (error instanceof DeadlineExceededError) reject(error);
          else reject(new ProbeError(`${method} ${shown}: ${error.message}`, 'EPROTO'));
        });
      });
      req.end(body);
    });
  }

  /**
   * Tries a TLS handshake limited to the given versions. Resolves with the version agreed, or
   * undefined when the server refused every one of them. Certificates are not checked here: the
   * question is only which protocol versions the server still speaks.
   */
  async handshake(
    minVersion: SecureVersion,
    maxVersion: SecureVersion,
  ): Promise<{ protocol?: string; certificate?: PeerCertificate }> {
    if (this.sent >= this.options.maxRequests)
      throw new BudgetExceededError(this.options.maxRequests);
    const timeoutMs = this.timeLeft();
    this.sent += 1;
    const host = this.base.hostname.replace(/^\[|\]$/g, '');
    const port = Number(this.base.port || 443);
    return new Promise((resolve) => {
      const socket = tlsConnect({
        host,
        port,
        ...(/^[\d.]+$|:/.test(host) ? {} : { servername: host }),
        minVersion,
        maxVersion,
        // Security level 0 lets this client offer old versions at all; the handshake is a probe.
        ciphers: 'DEFAULT:@SECLEVEL=0',
        rejectUnauthorized: false,
      });
      const timer = setTimeout(() => {
        socket.destroy();
        resolve({});
      }, timeoutMs);
      socket.once('secureConnect', () => {
        clearTimeout(timer);
        const protocol = socket.getProtocol() ?? undefined;
        const certificate = socket.getPeerCertificate();
        socket.end();
        resolve({ ...(protocol ? { protocol } : {}), certificate });
      });
      socket.once('error', () => {
        clearTimeout(timer);
        socket.destroy();
        resolve({});
      });
    });
  }
}
