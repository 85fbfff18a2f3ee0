import {
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTransport } from 'nodemailer';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Mailer, type MailerOptions, type MailMessage } from '../../src/mail/index.js';
import { smtpTransportOptions } from '../../src/mail/smtp-options.js';
import { secretMarker } from '../helpers/leaks.js';
import { parseMail, startSmtpServer, type TestSmtpServer } from '../helpers/smtp.js';
import { devCertFiles, type CertFiles } from '../helpers/tls.js';

const MARKER = 'MailBodySecret';
const secret = secretMarker(MARKER);
const RECIPIENT = 'alice.recipient@example.com';
const FROM = 'Bulwark <no-reply@example.com>';
/** The relay password; percent-encoded in the URL, so decoding is tested too. */
const RELAY_USER = 'relay@example.com';
const RELAY_PASS = 'Relay:Pa ss/w%rd@1';

/** Everything logged by any mailer of the current test, as written (JSON lines). */
let logLines: string[] = [];
const servers: TestSmtpServer[] = [];
const mailers: Mailer[] = [];
const certs: CertFiles[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const m of mailers.splice(0)) await m.close(200);
  for (const s of servers.splice(0)) await s.stop();
  for (const c of certs.splice(0)) c.cleanup();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  // Whatever path a test took, nothing secret reached a log line: not the body (its link), not
  // the recipient, not the relay password.
  const all = logLines.join('\n');
  logLines = [];
  expect(all).not.toContain(MARKER);
  expect(all).not.toContain(RECIPIENT);
  expect(all).not.toContain(RELAY_PASS);
  expect(all).not.toContain(encodeURIComponent(RELAY_PASS));
});

async function server(options: Parameters<typeof startSmtpServer>[0] = {}) {
  const s = await startSmtpServer(options);
  servers.push(s);
  return s;
}

function cert(): CertFiles {
  const c = devCertFiles();
  certs.push(c);
  return c;
}

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'bulwark-mail-'));
  dirs.push(d);
  return d;
}

type Outcome = [kind: string, outcome: string];

function mailer(options: Partial<MailerOptions> & Pick<MailerOptions, 'transport'>) {
  const outcomes: Outcome[] = [];
  const lines: Record<string, unknown>[] = [];
  const logger = pino(
    { level: 'info' },
    {
      write: (line: string) => {
        logLines.push(line);
        lines.push(JSON.parse(line) as Record<string, unknown>);
      },
    },
  );
  const m = new Mailer({
    from: FROM,
    queueSize: 10,
    maxAttempts: 3,
    initialBackoffMs: 10,
    logger,
    onOutcome: (kind, outcome) => outcomes.push([kind, outcome]),
    ...options,
  });
  mailers.push(m);
  return { mailer: m, outcomes, lines };
}

const smtp = (url: string, extra: { timeoutMs?: number; caFile?: string } = {}) => ({
  transport: { kind: 'smtp' as const, url, timeoutMs: 1_000, ...extra },
});

/** A reset link longer than a line (RFC 5322's 78), with a secret in it. */
function resetMessage(overrides: Partial<MailMessage> = {}): MailMessage {
  const link = `https://bulwark.example.com/account/password-reset?token=${secret('x'.repeat(90))}`;
  return {
    to: RECIPIENT,
    subject: 'Réinitialiser votre mot de passe',
    text: `Grüße aus Łódź — 日本語のテキスト.\n\nReset your password:\n${link}\n\nBulwark`,
    kind: 'password_reset',
    ...overrides,
  };
}

const errorsOf = (lines: Record<string, unknown>[]) => lines.filter((l) => l.level === 50);
const warningsOf = (lines: Record<string, unknown>[]) => lines.filter((l) => l.level === 40);

describe('Mailer over SMTP', () => {
  it('delivers a UTF-8 text/plain message with From, To, Subject and Auto-Submitted', async () => {
    const s = await server();
    const { mailer: m, outcomes, lines } = mailer(smtp(s.url()));
    const message = resetMessage();
    expect(m.send(message)).toBe(true);
    const mail = await s.waitForMessage((r) => r.to.includes(RECIPIENT), 3_000);
    await m.idle();

    expect(mail.from).toBe('no-reply@example.com');
    expect(mail.to).toEqual([RECIPIENT]);
    expect(mail.header('from')).toBe(FROM);
    expect(mail.header('to')).toBe(RECIPIENT);
    expect(mail.header('subject')).toBe(message.subject);
    expect(mail.headers.get('auto-submitted')).toEqual(['auto-generated']);
    expect(mail.header('content-type')).toMatch(/^text\/plain; charset=utf-8$/i);
    expect(mail.header('message-id')).toMatch(/^<.+@.+>$/);
    // Decoded from the transfer encoding: the non-ASCII text and the long link are intact.
    expect(mail.text.trimEnd()).toBe(message.text);
    // …and the link was really folded or encoded on the wire, not sent as one long line.
    expect(mail.raw.split('\r\n').every((line) => line.length <= 998)).toBe(true);
    expect(mail.secure).toBe(false);
    expect(outcomes).toEqual([['password_reset', 'sent']]);
    expect(lines.find((l) => l.msg === 'mail sent')).toMatchObject({
      kind: 'password_reset',
      attempts: 1,
    });
  });

  it('logs in with the percent-decoded user and password of the URL', async () => {
    const s = await server({ auth: { user: RELAY_USER, pass: RELAY_PASS } });
    expect(s.url({ user: RELAY_USER, pass: RELAY_PASS })).toContain('%40');
    const { mailer: m, outcomes } = mailer(smtp(s.url({ user: RELAY_USER, pass: RELAY_PASS })));
    m.send(resetMessage());
    await m.idle();
    expect(s.received).toHaveLength(1);
    expect(s.received[0]!.user).toBe(RELAY_USER);
    expect(s.authFailures).toBe(0);
    expect(outcomes).toEqual([['password_reset', 'sent']]);
  });

  it('gives up at once when the relay refuses the credentials (535), logging no password', async () => {
    const s = await server({ auth: { user: RELAY_USER, pass: 'the-right-one' } });
    const {
      mailer: m,
      outcomes,
      lines,
    } = mailer(smtp(s.url({ user: RELAY_USER, pass: RELAY_PASS })));
    m.send(resetMessage());
    await m.idle();
    expect(s.authFailures).toBe(1);
    expect(s.received).toEqual([]);
    expect(outcomes).toEqual([['password_reset', 'failed']]);
    expect(errorsOf(lines)).toEqual([
      expect.objectContaining({ kind: 'password_reset', attempts: 1, responseCode: 535 }),
    ]);
  });

  it('sends no credentials to a relay that offers no AUTH over plain text on loopback', async () => {
    const s = await server();
    const { mailer: m, outcomes } = mailer(smtp(s.url({ user: RELAY_USER, pass: RELAY_PASS })));
    m.send(resetMessage());
    await m.idle();
    // nodemailer skips AUTH when the server does not advertise it; the message still goes.
    expect(outcomes).toEqual([['password_reset', 'sent']]);
    expect(s.received[0]!.user).toBeUndefined();
  });

  it('upgrades with STARTTLS and trusts the certificate through caFile', async () => {
    const c = cert();
    const s = await server({ tls: { mode: 'starttls', cert: c } });
    const { mailer: m, outcomes } = mailer(smtp(s.url(), { caFile: c.certFile }));
    m.send(resetMessage());
    await m.idle();
    expect(outcomes).toEqual([['password_reset', 'sent']]);
    expect(s.received).toHaveLength(1);
    expect(s.received[0]!.secure).toBe(true);
  });

  it('speaks implicit TLS for smtps:// and sends credentials only inside it', async () => {
    const c = cert();
    const s = await server({
      tls: { mode: 'implicit', cert: c },
      auth: { user: RELAY_USER, pass: RELAY_PASS },
    });
    const url = s.url({ user: RELAY_USER, pass: RELAY_PASS });
    expect(url).toMatch(/^smtps:\/\//);
    const { mailer: m, outcomes } = mailer(smtp(url, { caFile: c.certFile }));
    m.send(resetMessage());
    await m.idle();
    expect(outcomes).toEqual([['password_reset', 'sent']]);
    expect(s.received[0]).toMatchObject({ secure: true, user: RELAY_USER });
  });

  it('refuses an untrusted STARTTLS certificate: given up, nothing sent in the clear', async () => {
    const s = await server({
      tls: { mode: 'starttls', cert: cert() },
      auth: { user: RELAY_USER, pass: RELAY_PASS },
    });
    const other = cert(); // a CA file, but not the one that signed the server's certificate
    const {
      mailer: m,
      outcomes,
      lines,
    } = mailer(smtp(s.url({ user: RELAY_USER, pass: RELAY_PASS }), { caFile: other.certFile }));
    m.send(resetMessage());
    await m.idle();
    expect(s.attempts).toBe(0);
    expect(s.received).toEqual([]);
    expect(s.authFailures).toBe(0);
    expect(s.connections).toBe(1); // not retried: a certificate does not fix itself
    expect(outcomes).toEqual([['password_reset', 'failed']]);
    expect(errorsOf(lines)).toEqual([
      expect.objectContaining({
        kind: 'password_reset',
        attempts: 1,
        code: 'DEPTH_ZERO_SELF_SIGNED_CERT',
      }),
    ]);
  });

  it('refuses an untrusted certificate on smtps:// too', async () => {
    const s = await server({ tls: { mode: 'implicit', cert: cert() } });
    const { mailer: m, outcomes, lines } = mailer({ ...smtp(s.url()), maxAttempts: 2 });
    m.send(resetMessage());
    await m.idle();
    expect(s.received).toEqual([]);
    expect(s.attempts).toBe(0);
    expect(s.connections).toBe(1);
    expect(outcomes).toEqual([['password_reset', 'failed']]);
    expect(errorsOf(lines)).toEqual([
      expect.objectContaining({ attempts: 1, code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }),
    ]);
  });

  it('retries a 451 with backoff and delivers on the third attempt', async () => {
    const s = await server();
    s.answerNext(451, 2, `4.3.0 try later ${secret()}`);
    const {
      mailer: m,
      outcomes,
      lines,
    } = mailer({
      ...smtp(s.url()),
      maxAttempts: 3,
      initialBackoffMs: 20,
    });
    const started = Date.now();
    m.send(resetMessage());
    await m.idle();
    expect(Date.now() - started).toBeGreaterThanOrEqual(20 + 40 - 5);
    expect(s.attempts).toBe(3);
    expect(s.received).toHaveLength(1);
    expect(outcomes).toEqual([['password_reset', 'sent']]);
    expect(lines.find((l) => l.msg === 'mail sent')).toMatchObject({ attempts: 3 });
    expect(errorsOf(lines)).toEqual([]);
  });

  it('gives up after maxAttempts of 451, with the reply code and no reply text', async () => {
    const s = await server();
    s.answerNext(451, 5, `4.3.0 ${RECIPIENT} said ${secret()}`);
    const { mailer: m, outcomes, lines } = mailer({ ...smtp(s.url()), maxAttempts: 2 });
    m.send(resetMessage());
    await m.idle();
    expect(s.attempts).toBe(2);
    expect(outcomes).toEqual([['password_reset', 'failed']]);
    const [error] = errorsOf(lines);
    expect(error).toMatchObject({ kind: 'password_reset', attempts: 2, responseCode: 451 });
    expect(Object.keys(error!).sort()).toEqual(
      [
        'attempts',
        'code',
        'hostname',
        'kind',
        'level',
        'msg',
        'pid',
        'responseCode',
        'time',
      ].sort(),
    );
  });

  it('gives up on a 550 after one attempt, logging the code and not the echoed text', async () => {
    const s = await server();
    s.answerNext(550, 1, `5.7.1 rejected: ${RECIPIENT} ${secret()}`);
    const { mailer: m, outcomes, lines } = mailer({ ...smtp(s.url()), maxAttempts: 5 });
    m.send(resetMessage());
    await m.idle();
    expect(s.attempts).toBe(1);
    expect(s.received).toEqual([]);
    expect(outcomes).toEqual([['password_reset', 'failed']]);
    expect(errorsOf(lines)).toEqual([
      expect.objectContaining({ kind: 'password_reset', attempts: 1, responseCode: 550 }),
    ]);
  });

  it('times out on a server that never greets, retries, then gives up', async () => {
    const s = await server({ stall: true });
    const {
      mailer: m,
      outcomes,
      lines,
    } = mailer({
      ...smtp(s.url(), { timeoutMs: 300 }),
      maxAttempts: 2,
    });
    const started = Date.now();
    m.send(resetMessage());
    await m.idle();
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(2 * 300 - 20);
    expect(elapsed).toBeLessThan(3_000);
    expect(s.connections).toBe(2);
    expect(outcomes).toEqual([['password_reset', 'failed']]);
    expect(errorsOf(lines)).toEqual([
      expect.objectContaining({ kind: 'password_reset', attempts: 2, code: 'ETIMEDOUT' }),
    ]);
  });

  it('retries a refused connection (nothing listening) as transient', async () => {
    const s = await server();
    const url = s.url();
    await s.stop();
    servers.splice(servers.indexOf(s), 1);
    const { mailer: m, outcomes, lines } = mailer({ ...smtp(url), maxAttempts: 2 });
    m.send(resetMessage());
    await m.idle();
    expect(outcomes).toEqual([['password_reset', 'failed']]);
    expect(errorsOf(lines)).toEqual([
      expect.objectContaining({ attempts: 2, code: 'ECONNREFUSED' }),
    ]);
  });
});

describe('Mailer queue and shutdown', () => {
  it('refuses when the queue is full, reporting dropped', async () => {
    const s = await server({ stall: true });
    const {
      mailer: m,
      outcomes,
      lines,
    } = mailer({
      ...smtp(s.url(), { timeoutMs: 5_000 }),
      queueSize: 2,
    });
    expect(m.send(resetMessage({ kind: 'one' }))).toBe(true);
    expect(m.send(resetMessage({ kind: 'two' }))).toBe(true);
    expect(m.send(resetMessage({ kind: 'three' }))).toBe(false);
    expect(outcomes).toEqual([['three', 'dropped']]);
    expect(warningsOf(lines)).toEqual([
      expect.objectContaining({ kind: 'three', reason: 'queue_full' }),
    ]);
    await m.close(50);
  });

  it('close() waits for queued mail, then refuses new messages', async () => {
    const s = await server();
    const { mailer: m, outcomes, lines } = mailer(smtp(s.url()));
    for (const kind of ['a', 'b', 'c']) m.send(resetMessage({ kind }));
    await m.close();
    expect(s.received).toHaveLength(3);
    expect(outcomes).toEqual([
      ['a', 'sent'],
      ['b', 'sent'],
      ['c', 'sent'],
    ]);
    expect(m.send(resetMessage({ kind: 'late' }))).toBe(false);
    expect(outcomes.at(-1)).toEqual(['late', 'dropped']);
    expect(warningsOf(lines)).toEqual([
      expect.objectContaining({ kind: 'late', reason: 'closed' }),
    ]);
    await m.close(); // idempotent
  });

  it('close() returns within its bound on a stalled server and abandons what is left', async () => {
    const s = await server({ stall: true });
    const { mailer: m, outcomes, lines } = mailer(smtp(s.url(), { timeoutMs: 10_000 }));
    m.send(resetMessage({ kind: 'in_flight' }));
    m.send(resetMessage({ kind: 'queued' }));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = Date.now();
    const [first, second] = [m.close(300), m.close(300)];
    expect(first).toBe(second);
    await first;
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(280);
    expect(elapsed).toBeLessThan(1_000);
    expect(outcomes).toEqual([
      ['in_flight', 'dropped'],
      ['queued', 'dropped'],
    ]);
    expect(warningsOf(lines)).toEqual([expect.objectContaining({ abandoned: 2 })]);
    await m.idle();
  });

  it('close() during a backoff wait abandons the retry at its deadline', async () => {
    const s = await server();
    s.answerNext(451, 1);
    const { mailer: m, outcomes } = mailer({ ...smtp(s.url()), initialBackoffMs: 30_000 });
    m.send(resetMessage());
    await s.waitForMessage(() => true, 300).catch(() => undefined);
    const started = Date.now();
    await m.close(200);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(s.attempts).toBe(1);
    expect(outcomes).toEqual([['password_reset', 'dropped']]);
  });

  it('refuses header injection and malformed messages without sending anything', async () => {
    const s = await server();
    const { mailer: m, outcomes, lines } = mailer(smtp(s.url()));
    const hostile: Partial<MailMessage>[] = [
      { to: `${RECIPIENT}\r\nBcc: eve@evil.example` },
      { to: `${RECIPIENT}\nBcc: eve@evil.example` },
      { to: `${RECIPIENT}\rBcc: eve@evil.example` },
      { to: `${RECIPIENT}\u0000` },
      { to: `${RECIPIENT}, eve@evil.example` },
      { to: `"${RECIPIENT}" <eve@evil.example>` },
      { to: `Alice <${RECIPIENT}>` },
      { to: 'not-an-address' },
      { to: '' },
      { to: `${'a'.repeat(250)}@example.com` },
      { subject: 'Reset\r\nBcc: eve@evil.example' },
      { subject: 'Reset\nX-Injected: yes' },
      { subject: 'Reset\tnow' },
      { subject: 'Reset\u2028now' },
      { subject: 'Reset\u0085now' },
      { kind: 'password_reset\nfake log line' },
      { text: 42 as unknown as string },
    ];
    for (const overrides of hostile) {
      expect(m.send(resetMessage(overrides)), JSON.stringify(overrides)).toBe(false);
    }
    expect(m.send(null as unknown as MailMessage)).toBe(false);
    expect(m.send(resetMessage({ kind: 'valid' }))).toBe(true);
    await m.idle();

    expect(s.received.map((r) => r.to)).toEqual([[RECIPIENT]]);
    expect(s.received[0]!.headers.has('bcc')).toBe(false);
    expect(s.received[0]!.headers.has('x-injected')).toBe(false);
    const refused = outcomes.filter(([, outcome]) => outcome === 'dropped');
    expect(refused).toHaveLength(hostile.length + 1);
    expect(refused.filter(([kind]) => kind !== 'password_reset')).toEqual([
      ['unknown', 'dropped'], // the hostile kind is not echoed
      ['unknown', 'dropped'], // null
    ]);
    expect(warningsOf(lines).every((l) => l.reason === 'invalid_message')).toBe(true);
    expect(outcomes.at(-1)).toEqual(['valid', 'sent']);
  });

  it('delivers a message queued just as the previous delivery ends (no stranded queue)', async () => {
    // Work finishing in the same turn as a delivery (another request's e-mail) may queue its
    // message a few microtasks after the queue was found empty but before the run is over.
    for (let depth = 0; depth <= 6; depth++) {
      let queueLater = (): void => undefined;
      const outcomes: Outcome[] = [];
      const { mailer: m } = mailer({
        transport: { kind: 'outbox', dir: tempDir() },
        onOutcome: (kind, outcome) => {
          outcomes.push([kind, outcome]);
          queueLater();
        },
      });
      queueLater = () => {
        queueLater = () => undefined;
        const hop = (n: number): void => {
          if (n === 0) m.send(resetMessage({ kind: 'password_changed' }));
          else queueMicrotask(() => hop(n - 1));
        };
        hop(depth);
      };
      expect(m.send(resetMessage())).toBe(true);
      await m.idle();
      await new Promise((resolve) => setTimeout(resolve, 20));
      await m.idle();
      expect(outcomes, `queued ${depth} microtasks after the first delivery`).toEqual([
        ['password_reset', 'sent'],
        ['password_changed', 'sent'],
      ]);
    }
  });

  it('keeps delivering when onOutcome throws', async () => {
    const s = await server();
    const { mailer: m } = mailer({
      ...smtp(s.url()),
      onOutcome: () => {
        throw new Error('metrics broke');
      },
    });
    expect(m.send(resetMessage({ to: 'x' }))).toBe(false);
    expect(m.send(resetMessage())).toBe(true);
    expect(m.send(resetMessage())).toBe(true);
    await m.idle();
    expect(s.received).toHaveLength(2);
  });
});

describe('Mailer outbox (development)', () => {
  it('writes a 0600 .eml file, in a 0700 directory it creates, that parses back', async () => {
    const dir = join(tempDir(), 'outbox');
    const { mailer: m, outcomes, lines } = mailer({ transport: { kind: 'outbox', dir } });
    const message = resetMessage();
    expect(m.send(message)).toBe(true);
    await m.idle();

    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const files = readdirSync(dir);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^\d{8}T\d{9}Z-[0-9a-f]{12}\.eml$/);
    const file = join(dir, files[0]!);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const raw = readFileSync(file, 'utf8');
    const mail = parseMail(raw.includes('\r\n') ? raw : raw.replace(/\n/g, '\r\n'), {
      from: '',
      to: [],
      secure: false,
    });
    expect(mail.header('from')).toBe(FROM);
    expect(mail.header('to')).toBe(RECIPIENT);
    expect(mail.header('subject')).toBe(message.subject);
    expect(mail.header('auto-submitted')).toBe('auto-generated');
    expect(mail.text.trimEnd()).toBe(message.text);
    expect(outcomes).toEqual([['password_reset', 'sent']]);
    // The file name is logged (it is where a developer finds the message), never the content.
    expect(lines.find((l) => l.msg === 'mail sent')).toMatchObject({ file });
  });

  it('reports a failure to write as failed, without throwing', async () => {
    const parent = tempDir();
    const blocker = join(parent, 'not-a-dir');
    writeFileSync(blocker, '');
    const { mailer: m, outcomes, lines } = mailer({ transport: { kind: 'outbox', dir: blocker } });
    m.send(resetMessage());
    await m.idle();
    expect(outcomes).toEqual([['password_reset', 'failed']]);
    expect(errorsOf(lines)).toEqual([expect.objectContaining({ attempts: 1, code: 'EEXIST' })]);
  });

  // Node's own recursive mkdir spins forever under /proc: a libuv pool thread lost for good, and
  // a mail that never settles.
  it.skipIf(!existsSync('/proc/self'))(
    'reports an outbox that cannot be made (under /proc) as failed, at once',
    async () => {
      const { mailer: m, outcomes } = mailer({
        transport: { kind: 'outbox', dir: '/proc/bulwark-test/outbox' },
      });
      m.send(resetMessage());
      await m.idle();
      expect(outcomes).toEqual([['password_reset', 'failed']]);
    },
  );

  it('reports an outbox below a symlink to nothing (a volume not mounted) as failed', async () => {
    const parent = tempDir();
    symlinkSync(join(parent, 'not-mounted'), join(parent, 'mail'));
    const { mailer: m, outcomes } = mailer({
      transport: { kind: 'outbox', dir: join(parent, 'mail', 'outbox') },
    });
    m.send(resetMessage());
    await m.idle();
    expect(outcomes).toEqual([['password_reset', 'failed']]);
  });
});

describe('Mailer settings', () => {
  const transport = (url: string, caFile?: string) =>
    ({ kind: 'smtp', url, timeoutMs: 1_000, ...(caFile ? { caFile } : {}) }) as const;
  const base = { from: FROM, queueSize: 1, maxAttempts: 1, initialBackoffMs: 0 };
  const logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

  it('requires STARTTLS for smtp:// anywhere but loopback, and implicit TLS for smtps://', () => {
    expect(smtpTransportOptions(transport('smtp://mail.example.test'))).toMatchObject({
      host: 'mail.example.test',
      port: 587,
      secure: false,
      requireTLS: true,
    });
    expect(smtpTransportOptions(transport('smtps://mail.example.test'))).toMatchObject({
      port: 465,
      secure: true,
    });
    for (const host of ['127.0.0.1', '127.8.9.10', 'localhost', 'LOCALHOST', '[::1]']) {
      expect(smtpTransportOptions(transport(`smtp://${host}:2525`)).requireTLS, host).toBe(false);
    }
    for (const host of [
      '128.0.0.1',
      '10.0.0.1',
      'localhost.evil.example',
      '[::2]',
      '127.0.0.1.nip.io',
    ]) {
      expect(smtpTransportOptions(transport(`smtp://${host}:2525`)).requireTLS, host).toBe(true);
    }
  });

  it('always verifies the certificate, TLS 1.2 at least, with every timeout set', () => {
    const options = smtpTransportOptions({
      ...transport('smtps://mail.example.test'),
      timeoutMs: 1234,
    });
    expect(options.tls).toMatchObject({ rejectUnauthorized: true, minVersion: 'TLSv1.2' });
    expect(options).toMatchObject({
      connectionTimeout: 1234,
      greetingTimeout: 1234,
      socketTimeout: 1234,
      logger: false,
      debug: false,
    });
    expect(options.auth).toBeUndefined();
  });

  it('decodes the credentials and adds caFile to the bundled roots', () => {
    const c = cert();
    const url = `smtp://${encodeURIComponent(RELAY_USER)}:${encodeURIComponent(RELAY_PASS)}@mail.example.test:25`;
    const options = smtpTransportOptions(transport(url, c.certFile));
    expect(options.auth).toEqual({ user: RELAY_USER, pass: RELAY_PASS });
    const ca = options.tls?.ca as string[];
    expect(ca).toContain(c.cert);
    expect(ca.length).toBeGreaterThan(100); // public relays stay trusted
  });

  it('sends nothing in the clear when requireTLS meets a relay without STARTTLS', async () => {
    const s = await server();
    // The options a non-loopback relay gets, pointed at the loopback test server.
    const options = smtpTransportOptions(transport(`smtp://relay.example.test:${s.port}`));
    const transporter = createTransport({ ...options, host: '127.0.0.1' });
    await expect(
      transporter.sendMail({ from: FROM, to: RECIPIENT, subject: 's', text: secret() }),
    ).rejects.toMatchObject({ code: 'ETLS' });
    transporter.close();
    expect(s.attempts).toBe(0);
    expect(s.received).toEqual([]);
  });

  it('refuses bad settings with a message that never quotes the password', () => {
    const pass = encodeURIComponent(RELAY_PASS);
    const hostile = [
      `smtp://u:${pass}@mail.example.test/?tls.rejectUnauthorized=false`,
      `smtp://u:${pass}@mail.example.test/?ignoreTLS=true`,
      `smtp://u:${pass}@mail.example.test/path`,
      `smtp://u:${pass}@mail.example.test/#x`,
      `http://u:${pass}@mail.example.test`,
      `smtp://u:${pass}%zz@mail.example.test`,
      `not a url ${RELAY_PASS}`,
    ];
    for (const url of hostile) {
      let message = '';
      try {
        new Mailer({ ...base, logger, transport: transport(url) });
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message, url).toMatch(/^mail transport URL/);
      expect(message).not.toContain(pass);
      expect(message).not.toContain(RELAY_PASS);
    }
  });

  it('names an unreadable or non-PEM caFile without showing its content', () => {
    const missing = join(tempDir(), 'missing-ca.pem');
    expect(
      () => new Mailer({ ...base, logger, transport: transport('smtp://127.0.0.1', missing) }),
    ).toThrow(`mail transport caFile ${missing} cannot be read (ENOENT)`);
    const notPem = join(tempDir(), 'key.txt');
    writeFileSync(notPem, `${MARKER} not a certificate`);
    let message = '';
    try {
      new Mailer({ ...base, logger, transport: transport('smtp://127.0.0.1', notPem) });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toBe(`mail transport caFile ${notPem} holds no PEM certificate`);
  });

  it('refuses a multi-line From and queue, attempt and backoff settings out of range', () => {
    const t = transport('smtp://127.0.0.1');
    const bad: Partial<MailerOptions>[] = [
      { from: 'Bulwark <a@example.com>\r\nBcc: eve@evil.example' },
      { from: '' },
      { queueSize: 0 },
      { queueSize: 1.5 },
      { maxAttempts: 0 },
      { initialBackoffMs: -1 },
      { initialBackoffMs: Number.NaN },
    ];
    for (const options of bad) {
      expect(
        () => new Mailer({ ...base, logger, transport: t, ...options }),
        JSON.stringify(options),
      ).toThrow(/^mail /);
    }
    expect(() => new Mailer({ ...base, logger, transport: { ...t, timeoutMs: 0 } })).toThrow(
      /timeoutMs/,
    );
  });
});
