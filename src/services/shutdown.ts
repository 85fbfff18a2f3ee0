import type { AccountEmailService } from '../auth/account-email-service.js';
import type { AuditSink } from '../audit/audit-sink.js';
import { webhookDrainMs, type WebhookSink } from '../audit/webhook-sink.js';
import type { Config } from '../config/index.js';
import type { Db, Housekeeping } from '../db/index.js';
import type { SharedStore } from '../store/index.js';
import type { SigningKeyStore } from '../tokens/signing-keys.js';

/** What createServices opened, as far as it got: what {@link shutDown} closes. */
export interface Opened {
  db: Db;
  store?: SharedStore;
  auditSink?: AuditSink;
  webhook?: WebhookSink;
  signingKeys?: SigningKeyStore;
  accountEmail?: AccountEmailService;
  housekeeping?: Housekeeping;
}

/**
 * How long closing waits for queued account e-mails: at most 10 s, and at most a quarter of the
 * shutdown timeout. The webhook drain after it takes up to half, and in-flight requests, the
 * audit flush and the database need the rest: a stalled relay given the whole timeout would have
 * the process exit 1 at the timeout with its last security events unwritten.
 */
function mailDrainMs(config: Config): number {
  return Math.min(10_000, Math.floor(config.server.shutdownTimeoutMs / 4));
}

/**
 * Closes what was opened, in order. Events still queued are written before the database closes.
 * Webhook deliveries get a bounded time to finish (a CLI command's event would otherwise never be
 * sent), then are abandoned rather than holding shutdown through their retries (they are in the
 * log and the table).
 */
export async function shutDown(opened: Opened, config: Config): Promise<void> {
  opened.signingKeys?.close();
  await opened.housekeeping?.close();
  await opened.accountEmail?.close(mailDrainMs(config));
  await opened.webhook?.close({ drainMs: webhookDrainMs(config) });
  await opened.auditSink?.flush();
  await opened.store?.close();
  await opened.db.close();
}
