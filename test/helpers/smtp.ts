import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { SMTPServer, type SMTPServerDataStream } from 'smtp-server';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import type { CertFiles } from './tls.js';

/** One message the test server accepted, decoded. */
export interface ReceivedMail {
  /** Envelope sender (MAIL FROM). */
  from: string;
  /** Envelope recipients (RCPT TO). */
  to: string[];
  /** The AUTH user the client logged in as, if it did. */
  user?: string;
  /** True when the message came over TLS (implicit, or after STARTTLS). */
  secure: boolean;
  /** The message as received, CRLF line ends. */
  raw: string;
  /** Header fields by lower-case name, unfolded, raw (encoded-words left as they are). */
  headers: ReadonlyMap<string, readonly string[]>;
  /** The first value of a header, RFC 2047 encoded-words decoded. */
  header(name: string): string | undefined;
  /** The text/plain body, transfer encoding (quoted-printable, base64) undone, LF line ends. */
  text: string;
}

export interface TestSmtpOptions {
  /** STARTTLS offered with this certificate, or implicit TLS (smtps) from the first byte. */
  tls?: { mode: 'starttls' | 'implicit'; cert: CertFiles };
  /** AUTH PLAIN/LOGIN required, and only these credentials accepted. */
  auth?: { user: string; pass: string };
  /** Accepts TCP connections and never says a word (for timeouts). */
  stall?: boolean;
}

export interface TestSmtpServer {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** Messages accepted so far, oldest first. */
  readonly received: ReceivedMail[];
  /** Messages offered (DATA sent), accepted or refused: the client's delivery attempts. */
  readonly attempts: number;
  /** TCP connections accepted. */
  readonly connections: number;
  /** AUTH attempts with the wrong credentials. */
  readonly authFailures: number;
  /** `smtp://` (or `smtps://` for implicit TLS) URL of this server, credentials percent-encoded. */
  url(credentials?: { user: string; pass: string }): string;
  /**
   * Answers the next `count` messages with `code` (e.g. 451, 550) after reading them, instead of
   * accepting them; `text` is the reply text (to check that a client never logs it).
   */
  answerNext(code: number, count?: number, text?: string): void;
  /** The first received message (already there or still to come) that `predicate` accepts. */
  waitForMessage(
    predicate?: (mail: ReceivedMail) => boolean,
    timeoutMs?: number,
  ): Promise<ReceivedMail>;
  stop(): Promise<void>;
}

// smtp-server holds its greeting back 100 ms on every connection to catch clients that talk
// before it (a spam heuristic it offers no option for). The product connects once per e-mail,
// so the suite waited ~100 ms per message, several seconds per mail test file. This server
// greets as soon as the connection is set up; no test here is about early talkers. The rest of
// init() (connection limit check) is for maxClients, which these servers never set.
SMTPConnection.prototype.init = function init(this: SMTPConnection): void {
  this._setListeners(() => this.connectionReady());
};

/** A real SMTP server (smtp-server) on 127.0.0.1, port 0. Stop it in afterEach/afterAll. */
export async function startSmtpServer(options: TestSmtpOptions = {}): Promise<TestSmtpServer> {
  return options.stall ? startStalled() : startReal(options);
}

interface Waiter {
  predicate: (mail: ReceivedMail) => boolean;
  resolve: (mail: ReceivedMail) => void;
}

async function startReal(options: TestSmtpOptions): Promise<TestSmtpServer> {
  const received: ReceivedMail[] = [];
  const waiters = new Set<Waiter>();
  const answers: { code: number; text: string }[] = [];
  let attempts = 0;
  let connections = 0;
  let authFailures = 0;
  const tls = options.tls;
  const auth = options.auth;

  const server = new SMTPServer({
    logger: false,
    // The default looks the client's address up in DNS: a network call the suite must not make.
    disableReverseLookup: true,
    closeTimeout: 100,
    secure: tls?.mode === 'implicit',
    ...(tls ? { key: readFileSync(tls.cert.keyFile), cert: readFileSync(tls.cert.certFile) } : {}),
    // Without a certificate of ours smtp-server would offer STARTTLS with its built-in one.
    disabledCommands: [...(tls ? [] : ['STARTTLS']), ...(auth ? [] : ['AUTH'])],
    authMethods: ['PLAIN', 'LOGIN'],
    authOptional: auth === undefined,
    // AUTH over plain TCP on loopback, to test credentials without TLS as well.
    allowInsecureAuth: true,
    onAuth(login, _session, callback) {
      if (auth && login.username === auth.user && login.password === auth.pass) {
        callback(null, { user: login.username });
        return;
      }
      authFailures++;
      callback(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
    },
    onData(stream: SMTPServerDataStream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        attempts++;
        const answer = answers.shift();
        if (answer) {
          callback(Object.assign(new Error(answer.text), { responseCode: answer.code }));
          return;
        }
        let mail: ReceivedMail;
        try {
          mail = parseMail(Buffer.concat(chunks).toString('utf8'), {
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            secure: session.secure,
            ...(typeof session.user === 'string' ? { user: session.user } : {}),
          });
        } catch (error) {
          callback(error as Error);
          return;
        }
        received.push(mail);
        for (const waiter of waiters) {
          if (waiter.predicate(mail)) {
            waiters.delete(waiter);
            waiter.resolve(mail);
          }
        }
        callback();
      });
    },
  });
  server.on('error', () => undefined);
  // smtp-server's types take `net` as a default import, which this tsconfig (no
  // esModuleInterop) cannot resolve: its `server` property is typed here.
  const tcp = server.server as Server;
  // Counted at TCP level: an implicit-TLS handshake that fails never reaches smtp-server's
  // onConnect.
  tcp.on('connection', () => connections++);
  await new Promise<void>((resolve) => {
    tcp.listen(0, '127.0.0.1', resolve);
  });
  const port = (tcp.address() as AddressInfo).port;

  return {
    host: '127.0.0.1',
    port,
    received,
    get attempts() {
      return attempts;
    },
    get connections() {
      return connections;
    },
    get authFailures() {
      return authFailures;
    },
    url: (credentials) => smtpUrl(tls?.mode === 'implicit' ? 'smtps' : 'smtp', port, credentials),
    answerNext(code, count = 1, text = code >= 500 ? 'Refused' : 'Try again later') {
      for (let i = 0; i < count; i++) answers.push({ code, text });
    },
    waitForMessage(predicate = () => true, timeoutMs = 5_000) {
      const found = received.find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const waiter: Waiter = {
          predicate,
          resolve: (mail) => {
            clearTimeout(timer);
            resolve(mail);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(
            new Error(`no matching e-mail within ${timeoutMs} ms (${received.length} received)`),
          );
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A TCP server that accepts connections and never greets: the client's timeouts must fire. */
async function startStalled(): Promise<TestSmtpServer> {
  const sockets = new Set<Socket>();
  let connections = 0;
  const server: Server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    host: '127.0.0.1',
    port,
    received: [],
    attempts: 0,
    get connections() {
      return connections;
    },
    authFailures: 0,
    url: (credentials) => smtpUrl('smtp', port, credentials),
    answerNext: () => undefined,
    waitForMessage: (_predicate, timeoutMs = 5_000) =>
      new Promise((_resolve, reject) =>
        setTimeout(() => reject(new Error('a stalled server receives nothing')), timeoutMs),
      ),
    stop() {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function smtpUrl(
  scheme: 'smtp' | 'smtps',
  port: number,
  credentials?: { user: string; pass: string },
): string {
  const login = credentials
    ? `${encodeURIComponent(credentials.user)}:${encodeURIComponent(credentials.pass)}@`
    : '';
  return `${scheme}://${login}127.0.0.1:${port}`;
}

/**
 * The messages of an `email.outboxDir`, oldest first (file names start with their time), read
 * as a relay would have received them; `to` is the To header.
 */
export function outboxMails(dir: string): ReceivedMail[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith('.eml'))
    .sort()
    .map((name) => {
      const raw = readFileSync(join(dir, name), 'utf8').replace(/\r?\n/g, '\r\n');
      const mail = parseMail(raw, { from: '', to: [], secure: false });
      return { ...mail, to: [mail.header('to') ?? ''] };
    });
}

/** The token of the last link e-mailed to `address` in the outbox `dir` (after `#token=`). */
export function lastOutboxToken(dir: string, address: string): string {
  const mail = outboxMails(dir)
    .filter((m) => m.to.includes(address))
    .at(-1);
  const token = mail && /#token=([A-Za-z0-9_-]{43})/.exec(mail.text)?.[1];
  if (!token) throw new Error(`no link e-mailed to ${address}`);
  return token;
}

/** Splits, unfolds and decodes one single-part text/plain message (RFC 5322, RFC 2045). */
export function parseMail(
  raw: string,
  envelope: Pick<ReceivedMail, 'from' | 'to' | 'secure' | 'user'>,
): ReceivedMail {
  const split = raw.indexOf('\r\n\r\n');
  if (split < 0) throw new Error('message has no header/body separator');
  const head = raw.slice(0, split).replace(/\r\n(?=[ \t])/g, '');
  const body = raw.slice(split + 4);
  const headers = new Map<string, string[]>();
  for (const line of head.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Error(`malformed header line: ${line}`);
    const name = line.slice(0, colon).trim().toLowerCase();
    const values = headers.get(name) ?? [];
    values.push(line.slice(colon + 1).trim());
    headers.set(name, values);
  }
  const first = (name: string): string | undefined => headers.get(name.toLowerCase())?.[0];

  const contentType = first('content-type') ?? 'text/plain; charset=us-ascii';
  if (!/^text\/plain\b/i.test(contentType)) {
    throw new Error(`only text/plain is decoded, not ${contentType}`);
  }
  const charset = /charset="?([\w-]+)"?/i.exec(contentType)?.[1]?.toLowerCase() ?? 'us-ascii';
  const encoding = (first('content-transfer-encoding') ?? '7bit').toLowerCase();
  let bytes: Buffer;
  if (encoding === 'quoted-printable') bytes = decodeQuotedPrintable(body);
  else if (encoding === 'base64') bytes = decodeBase64(body);
  else if (encoding === '7bit' || encoding === '8bit') bytes = Buffer.from(body, 'utf8');
  else throw new Error(`unknown transfer encoding ${encoding}`);

  return {
    ...envelope,
    raw,
    headers,
    header: (name) => {
      const value = first(name);
      return value === undefined ? undefined : decodeEncodedWords(value);
    },
    text: decodeCharset(bytes, charset).replace(/\r\n/g, '\n'),
  };
}

function decodeCharset(bytes: Buffer, charset: string): string {
  if (charset !== 'utf-8' && charset !== 'us-ascii') throw new Error(`charset ${charset}`);
  return new TextDecoder(charset === 'utf-8' ? 'utf-8' : 'ascii', { fatal: true }).decode(bytes);
}

/** RFC 2045 §6.7: `=XX` octets, `=` at a line end is a soft break, trailing blanks are padding. */
export function decodeQuotedPrintable(text: string): Buffer {
  const lines = text.replace(/[ \t]+(?=\r?\n|$)/g, '').replace(/=\r?\n/g, '');
  const bytes: number[] = [];
  for (let i = 0; i < lines.length; i++) {
    const char = lines[i]!;
    if (char === '=') {
      const hex = lines.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw new Error(`bad quoted-printable escape =${hex}`);
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      const code = char.charCodeAt(0);
      if (code > 126) throw new Error('quoted-printable text holds a raw 8-bit character');
      bytes.push(code);
    }
  }
  return Buffer.from(bytes);
}

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** RFC 2045 §6.8, by hand and strict: any character outside the alphabet fails the test. */
export function decodeBase64(text: string): Buffer {
  const clean = text.replace(/\r?\n/g, '');
  if (clean.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(clean)) {
    throw new Error('malformed base64 body');
  }
  const bytes: number[] = [];
  for (let i = 0; i < clean.length; i += 4) {
    const quad = clean.slice(i, i + 4);
    const values = [...quad].map((c) => (c === '=' ? 0 : BASE64.indexOf(c)));
    const n = (values[0]! << 18) | (values[1]! << 12) | (values[2]! << 6) | values[3]!;
    bytes.push((n >> 16) & 0xff);
    if (quad[2] !== '=') bytes.push((n >> 8) & 0xff);
    if (quad[3] !== '=') bytes.push(n & 0xff);
  }
  return Buffer.from(bytes);
}

/** RFC 2047 encoded-words (`=?UTF-8?Q?…?=`, `=?UTF-8?B?…?=`) in a header value. */
export function decodeEncodedWords(value: string): string {
  return value
    .replace(/(\?=)\s+(?==\?)/g, '$1')
    .replace(/=\?([^?]+)\?([BbQq])\?([^?]*)\?=/g, (_word, charset: string, kind: string, data) => {
      const bytes =
        kind.toUpperCase() === 'B'
          ? decodeBase64(data as string)
          : decodeQuotedPrintable((data as string).replace(/_/g, '=20'));
      return decodeCharset(bytes, charset.toLowerCase());
    });
}
