import type { VerifyResult } from '../../audit/audit-log.js';
import type { RecordedSecurityEvent } from '../../security-events.js';
import { CliUsageError, parseCommandArgs, type Command } from '../args.js';
import type { CliContext } from '../context.js';

const DAY_MS = 86_400_000;

const usage = [
  'Usage: bulwark audit-log verify [--json] [--config FILE]',
  '       bulwark audit-log prune [--older-than-days N] [--config FILE]',
  '',
  'verify  walks the hash chain of the audit table from the last checkpoint to the head and',
  '        reports the first broken link (an edited, inserted or deleted row). Exit 0 when the',
  '        chain holds, 1 when it is broken.',
  'prune   deletes events older than N days (default: audit.retentionDays) and records a',
  '        checkpoint so the remaining chain still verifies. Refuses to prune a broken chain.',
].join('\n');

/** The options of both actions, each refused after parsing when given to the other. */
const OPTIONS = {
  config: { type: 'string' },
  json: { type: 'boolean' },
  'older-than-days': { type: 'string' },
} as const;

function events(count: number): string {
  return `${count} event${count === 1 ? '' : 's'}`;
}

function describe(result: VerifyResult): string {
  const range = `seq ${result.fromSeq + 1}..${result.headSeq}`;
  if (result.ok) {
    // A new database, before the service first started: nothing to verify, and no range.
    if (result.checked === 0 && result.headSeq <= result.fromSeq) {
      return 'audit chain OK: no events yet';
    }
    return `audit chain OK: ${events(result.checked)} verified (${range})`;
  }
  const { seq, id, reason } = result.brokenAt;
  const verified = `${events(result.checked)} verified before it`;
  return `audit chain BROKEN at seq ${seq}${id === null ? '' : ` (event ${id})`}: ${reason}; ${verified}, in a chain of ${range}`;
}

/** `bulwark audit-log verify|prune`: operator tools for the tamper-evident audit log. */
export const auditLog: Command = {
  summary: 'verify the audit hash chain, or prune old events',
  subcommands: [
    { synopsis: 'audit-log verify', summary: 'check the audit hash chain; exit 1 when broken' },
    { synopsis: 'audit-log prune', summary: 'delete events past audit.retentionDays' },
  ],
  usage,
  options: OPTIONS,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, OPTIONS);
    const [action, ...extra] = positionals;
    if (extra.length > 0) throw new CliUsageError(`unexpected argument "${extra[0]}"`);
    if (action !== 'verify' && action !== 'prune') {
      throw new CliUsageError(
        action === undefined ? 'missing action: verify or prune' : `unknown action "${action}"`,
      );
    }
    const daysText = values['older-than-days'];
    // Options of the other action would be silently ignored: refuse them instead.
    if (action === 'verify' && daysText !== undefined) {
      throw new CliUsageError('--older-than-days is an option of prune, not verify');
    }
    if (action === 'prune' && values.json !== undefined) {
      throw new CliUsageError('--json is an option of verify, not prune');
    }
    // Decimal digits only: Number() would take 0x10, 1e2 and "" (as 0, keep forever).
    if (daysText !== undefined && (!/^\d{1,5}$/.test(daysText) || Number(daysText) > 36_500)) {
      throw new CliUsageError('--older-than-days must be an integer from 0 to 36500');
    }
    const { loadCliContext, withDatabase } = await import('../context.js');
    const { AuditChainBrokenError, AuditLog } = await import('../../audit/audit-log.js');
    const { AuditEventsRepository } = await import('../../db/index.js');
    const context = loadCliContext(values.config, io);
    const { config } = context;
    const days = daysText === undefined ? config.audit.retentionDays : Number(daysText);
    // The database must exist: verifying or pruning a missing one would create an empty file.
    return withDatabase(
      context,
      async (db) => {
        const log = new AuditLog(new AuditEventsRepository(db.kysely, db.dialect));
        if (action === 'verify') {
          const result = await log.verify();
          if (values.json) io.stdout.write(`${JSON.stringify(result)}\n`);
          else (result.ok ? io.stdout : io.stderr).write(`${describe(result)}\n`);
          return result.ok ? 0 : 1;
        }
        if (days === 0) {
          io.stdout.write(
            `${daysText === undefined ? 'audit.retentionDays' : '--older-than-days'} is 0 (keep forever): nothing pruned\n`,
          );
          return 0;
        }
        const now = Date.now();
        const before = now - days * DAY_MS;
        try {
          const { pruned, checkpointSeq, event } = await log.prune(before, now);
          io.stdout.write(
            `pruned ${pruned} audit events older than ${new Date(before).toISOString()}; the chain now starts after seq ${checkpointSeq}\n`,
          );
          // The service's own events reach the webhook through its sinks; this one is written
          // straight into the chain, so it is sent here (when the webhook wants it).
          if (event) await sendToWebhook(context, event);
          return 0;
        } catch (error) {
          if (error instanceof AuditChainBrokenError) {
            io.stderr.write(`bulwark audit-log: nothing pruned: ${error.message}\n`);
            return 1;
          }
          throw error;
        }
      },
      { existing: true },
    );
  },
};

/** Sends one event to `audit.webhook` if configured, waiting a bounded time for its delivery. */
async function sendToWebhook(context: CliContext, event: RecordedSecurityEvent): Promise<void> {
  const { webhookDrainMs, webhookSinkFromConfig } = await import('../../audit/webhook-sink.js');
  const { Metrics } = await import('../../metrics/metrics.js');
  const sink = webhookSinkFromConfig(context.config, context.logger, new Metrics());
  if (sink === undefined) return;
  sink.record(event);
  await sink.close({ drainMs: webhookDrainMs(context.config) });
}
