import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createTransport } from 'nodemailer';
import type { SendMailOptions } from 'nodemailer/lib/mailer';
import { makeDirectory } from '../files/make-directory.js';
import { smtpTransportOptions, type SmtpTransport } from './smtp-options.js';

/** Writes each message to a directory instead of sending it (development). */
export interface OutboxTransport {
  kind: 'outbox';
  /** Created with mode 0700 when missing; each message is `<timestamp>-<random>.eml`, mode 0600. */
  dir: string;
}

export type MailTransport = SmtpTransport | OutboxTransport;

/** One attempt at handing a composed message over; rejects with the transport's error. */
export interface MailDelivery {
  /** Resolves with where the message went, for the log (never an address). */
  deliver(message: SendMailOptions, signal: AbortSignal): Promise<{ file?: string }>;
  close(): void;
}

/** The delivery for `transport`; throws on bad settings (never quoting the URL's password). */
export function createDelivery(transport: MailTransport): MailDelivery {
  return transport.kind === 'smtp' ? smtpDelivery(transport) : outboxDelivery(transport);
}

function smtpDelivery(transport: SmtpTransport): MailDelivery {
  const transporter = createTransport(smtpTransportOptions(transport));
  return {
    async deliver(message, signal) {
      await transporter.sendMail({ ...message, signal });
      return {};
    },
    close: () => transporter.close(),
  };
}

function outboxDelivery(transport: OutboxTransport): MailDelivery {
  // The same composer as for SMTP, so the file is the message a relay would have been handed.
  const composer = createTransport({ streamTransport: true, buffer: true });
  return {
    async deliver(message) {
      const info = await composer.sendMail(message);
      // The files hold live reset links: readable by the service's user only.
      await makeDirectory(transport.dir, 0o700);
      const stamp = new Date().toISOString().replace(/[-:.]/g, '');
      const file = join(transport.dir, `${stamp}-${randomBytes(6).toString('hex')}.eml`);
      await writeFile(file, info.message as Buffer, { mode: 0o600, flag: 'wx' });
      return { file };
    },
    close: () => composer.close(),
  };
}
