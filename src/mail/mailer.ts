import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from 'pino';
import { deliveryFailure, type DeliveryFailure } from './delivery-failure.js';
import { createDelivery, type MailDelivery, type MailTransport } from './mail-delivery.js';

export type { MailTransport, OutboxTransport } from './mail-delivery.js';
export type { SmtpTransport } from './smtp-options.js';

/** One account e-mail to one recipient. */
export interface MailMessage {
  /** One bare address (`user@example.com`), no display name, no list. */
  to: string;
  subject: string;
  /** Plain-text body; may carry a secret link, so it is never logged anywhere. */
  text: string;
  /** What the message is (`password_reset`, `email_verification` …), for logs and metrics only. */
  kind: string;
}

export type MailOutcome = 'sent' | 'failed' | 'dropped';

export interface MailerOptions {
  transport: MailTransport;
  /** The From header, e.g. `Bulwark <no-reply@example.com>`. */
  from: string;
  /** Messages waiting for delivery; when full, `send` refuses new ones. */
  queueSize: number;
  /** Delivery attempts per message, the first included. */
  maxAttempts: number;
  /** Wait before the first retry, in milliseconds; doubles on each further retry, up to 60 s. */
  initialBackoffMs: number;
  logger: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** Called once per message with how it ended, for metrics. */
  onOutcome?: (kind: string, outcome: MailOutcome) => void;
}

/** Largest backoff between two attempts, however many are configured. */
const MAX_BACKOFF_MS = 60_000;
const DEFAULT_CLOSE_TIMEOUT_MS = 10_000;
/** RFC 3834 §5: marks the message as sent by a machine, so auto-responders stay quiet. */
const AUTO_SUBMITTED = { 'Auto-Submitted': 'auto-generated' };

/**
 * C0 and C1 controls, DEL and the Unicode line and paragraph separators: in a header each of
 * them either ends the header (CR, LF: header injection, RFC 5322 §2.2) or has no business there.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
/**
 * A bare addr-spec with an unquoted local part. Commas, angle brackets, quotes and the like are
 * refused: nodemailer reads `to` as an address list, so `a@x, b@y` or `"a@x" <b@y>` would send
 * a reset link to a second, attacker-chosen recipient.
 */
const BARE_ADDRESS = /^[^\s@<>()[\]\\,;:"]+@[^\s@<>()[\]\\,;:"]+$/;
/** RFC 5321 §4.5.3.1.3: a path holds at most 256 octets, the address 254 of them. */
const MAX_ADDRESS_LENGTH = 254;
const KIND = /^[A-Za-z][\w.-]{0,63}$/;

interface QueuedMail {
  to: string;
  subject: string;
  text: string;
  kind: string;
}

type Refusal = 'closed' | 'queue_full' | 'invalid_message';

/**
 * Sends account e-mails (password reset links, address verification, password-changed notices).
 * Delivery is in the background, one message at a time, with bounded exponential-backoff retries
 * on transient failures (network errors, timeouts, SMTP 4xx); a bounded queue refuses new
 * messages when full. None of it can block or fail a request: `send` only queues.
 *
 * The message text is never logged, nor the recipient, the SMTP reply text (it may echo either)
 * or the transport URL (it carries the relay password): a give-up is logged with the kind, the
 * attempts and the reply or error code only.
 */
export class Mailer {
  private readonly queue: QueuedMail[] = [];
  private readonly delivery: MailDelivery;
  private running: Promise<void> | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;
  /** Aborted when close() stops waiting: wakes the backoff and abandons the attempt in flight. */
  private readonly stop = new AbortController();
  private abandoned = 0;

  constructor(private readonly options: MailerOptions) {
    const { from, queueSize, maxAttempts, initialBackoffMs } = options;
    if (typeof from !== 'string' || from.trim() === '' || CONTROL.test(from)) {
      throw new Error('mail from must be one line, e.g. "Bulwark <no-reply@example.com>"');
    }
    if (!Number.isInteger(queueSize) || queueSize < 1) {
      throw new Error('mail queueSize must be a whole number of messages, at least 1');
    }
    if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
      throw new Error('mail maxAttempts must be a whole number, at least 1 (the first attempt)');
    }
    if (!Number.isFinite(initialBackoffMs) || initialBackoffMs < 0) {
      throw new Error('mail initialBackoffMs must be a number of milliseconds, 0 or more');
    }
    this.delivery = createDelivery(options.transport);
  }

  /**
   * Queues the message and returns at once: true when queued, false when refused (queue full,
   * closed, or a malformed message: an address or subject with CR/LF or another control
   * character). Never waits on the network and never throws.
   */
  send(message: MailMessage): boolean {
    try {
      const kind = kindOf(message);
      const reason: Refusal | undefined = this.closed
        ? 'closed'
        : !isValid(message)
          ? 'invalid_message'
          : this.queue.length >= this.options.queueSize
            ? 'queue_full'
            : undefined;
      if (reason !== undefined) {
        this.options.logger.warn({ kind, reason }, 'mail refused: not queued');
        this.report(kind, 'dropped');
        return false;
      }
      // A copy: the caller changing its object afterwards must not change what is sent.
      const { to, subject, text } = message;
      this.queue.push({ to, subject, text, kind });
      this.kick();
      return true;
    } catch {
      // Only a throwing getter on the message or a throwing logger gets here.
      return false;
    }
  }

  /** Resolves when nothing is queued or in flight (for tests and for shutdown). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /**
   * Refuses new messages, waits for the queued ones up to `timeoutMs`, then abandons the rest
   * (logged at warn with their count) and closes the transport. Idempotent.
   */
  close(timeoutMs = DEFAULT_CLOSE_TIMEOUT_MS): Promise<void> {
    this.closing ??= this.shutdown(timeoutMs);
    return this.closing;
  }

  private async shutdown(timeoutMs: number): Promise<void> {
    this.closed = true;
    let timer: NodeJS.Timeout | undefined;
    // Not unref'd, unlike the backoff: this timer keeps a stopping process up while mail drains.
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    try {
      const ended = await Promise.race([this.idle().then(() => 'idle' as const), deadline]);
      if (ended === 'timeout') {
        this.stop.abort();
        await this.idle();
      }
    } finally {
      clearTimeout(timer);
    }
    try {
      if (this.abandoned > 0) {
        this.options.logger.warn(
          { abandoned: this.abandoned },
          'mail stopped with messages pending; they were not sent',
        );
      }
      this.delivery.close();
    } catch {
      // Closing must not fail a shutdown.
    }
  }

  /** Starts the delivery loop unless it runs. */
  private kick(): void {
    this.running ??= this.run().finally(() => {
      this.running = undefined;
      // A message queued after run() found the queue empty, but before this callback, saw the
      // loop still running and did not start it: without this it would wait for the next send.
      if (this.queue.length > 0) this.kick();
    });
  }

  private async run(): Promise<void> {
    await Promise.resolve();
    while (this.queue.length > 0) {
      const mail = this.queue.shift()!;
      try {
        await this.deliver(mail);
      } catch {
        // deliver() catches the transport's errors; only a throwing logger gets here.
      }
    }
  }

  private async deliver(mail: QueuedMail): Promise<void> {
    if (this.stop.signal.aborted) return this.abandon(mail);
    const message = {
      from: this.options.from,
      to: mail.to,
      subject: mail.subject,
      text: mail.text,
      headers: AUTO_SUBMITTED,
    };
    for (let attempt = 1; ; attempt++) {
      let failure: DeliveryFailure;
      try {
        const where = await this.attempt(message);
        this.options.logger.info({ kind: mail.kind, attempts: attempt, ...where }, 'mail sent');
        return this.report(mail.kind, 'sent');
      } catch (error) {
        failure = deliveryFailure(error);
      }
      if (this.stop.signal.aborted) return this.abandon(mail);
      if (!failure.transient || attempt >= this.options.maxAttempts) {
        const { responseCode, code } = failure;
        this.options.logger.error(
          { kind: mail.kind, attempts: attempt, responseCode, code },
          failure.transient
            ? 'mail delivery failed after every attempt; giving up on this message'
            : 'mail delivery failed for good (not retried); giving up on this message',
        );
        return this.report(mail.kind, 'failed');
      }
      await this.sleep(
        Math.min(this.options.initialBackoffMs * 2 ** (attempt - 1), MAX_BACKOFF_MS),
      );
      if (this.stop.signal.aborted) return this.abandon(mail);
    }
  }

  /**
   * One hand-over, cut short when close() stops waiting even if the transport does not notice
   * the abort; a late rejection of the abandoned attempt is swallowed, never unhandled.
   */
  private attempt(message: Parameters<MailDelivery['deliver']>[0]): Promise<{ file?: string }> {
    const signal = this.stop.signal;
    const delivered = this.delivery.deliver(message, signal);
    delivered.catch(() => undefined);
    return new Promise((resolve, reject) => {
      const onAbort = (): void => reject(new Error('mail attempt abandoned'));
      signal.addEventListener('abort', onAbort, { once: true });
      void delivered
        .then(resolve, reject)
        .finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  private abandon(mail: QueuedMail): void {
    this.abandoned++;
    this.report(mail.kind, 'dropped');
  }

  private report(kind: string, outcome: MailOutcome): void {
    try {
      this.options.onOutcome?.(kind, outcome);
    } catch {
      // A metrics callback must not stop delivery.
    }
  }

  /**
   * Waits `ms`, or less when close() stops waiting. Unref'd: a retry waiting must not keep the
   * process alive; close() holds it up instead.
   */
  private async sleep(ms: number): Promise<void> {
    await delay(ms, undefined, { signal: this.stop.signal, ref: false }).catch(() => undefined);
  }
}

function kindOf(message: MailMessage): string {
  const kind = (message as Partial<MailMessage> | null)?.kind;
  return typeof kind === 'string' && KIND.test(kind) ? kind : 'unknown';
}

function isValid(message: MailMessage): boolean {
  if (typeof message !== 'object' || message === null) return false;
  const { to, subject, text, kind } = message;
  return (
    typeof to === 'string' &&
    typeof subject === 'string' &&
    typeof text === 'string' &&
    typeof kind === 'string' &&
    KIND.test(kind) &&
    to.length <= MAX_ADDRESS_LENGTH &&
    !CONTROL.test(to) &&
    BARE_ADDRESS.test(to) &&
    !CONTROL.test(subject)
  );
}
