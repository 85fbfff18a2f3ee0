import type { KeyringFormat } from '../../crypto/index.js';
import type { ReencryptReport } from '../../db/index.js';
import { CliError, CliUsageError } from '../args.js';
import type { Services } from '../../services.js';
import { pathIn, type CliIo } from '../io.js';
import { ProgressBar } from '../progress.js';

/** Default rows per transaction for `keys reencrypt`. */
export const DEFAULT_BATCH_SIZE = 500;
const MAX_BATCH_SIZE = 10_000;

export const ROTATE_MASTER_USAGE = [
  'Usage: bulwark keys rotate-master [--out FILE] [--format value|json] [--config FILE]',
  '',
  'Adds a new random master key version and makes it the one new values are encrypted with.',
  'Every older version stays, so everything already stored remains readable. Then run',
  '`bulwark keys reencrypt` to move stored values to the new version.',
  '',
  'Checks first that the current keyring decrypts this database (it opens the services).',
  '',
  'With a key file (keys.masterKeyFile, or the development key file) the file is rewritten in',
  'place, atomically (temporary 0600 file, fsync, rename): it never holds less than before.',
  'Restart the service (every instance) to use the new version.',
  '',
  'With the key in BULWARK_MASTER_KEY (or keys.masterKey in a config file) nothing here can',
  'change it: --out FILE is required and receives the complete new keyring (new version and',
  'every old one), created with mode 0600 and never overwriting. Put its content where the old',
  'value came from (secret store, environment), restart, then delete the file. Nothing secret',
  'is ever printed.',
  '',
  'Options:',
  '  --out FILE      where to write the new keyring (required when the key is not in a file)',
  '  --format F      form of --out: "value" (default), one BULWARK_MASTER_KEY value',
  '                  "3:<base64>,2:<base64>,…"; or "json", a key file for keys.masterKeyFile',
  '  --config FILE   JSON config file (environment variables override it)',
].join('\n');

export const REENCRYPT_USAGE = [
  `Usage: bulwark keys reencrypt [--batch-size N] [--config FILE]`,
  '',
  'Re-encrypts every encrypted value in the database (phone numbers, wrapped signing keys, …)',
  'under the current master key version, in batches of N rows per transaction (default',
  `${DEFAULT_BATCH_SIZE}). Progress goes to stderr; the report (per column: examined,`,
  're-encrypted, already current, changed meanwhile, unreadable) to stdout.',
  '',
  'Safe to interrupt at any point and to run again: each row is rewritten only if it still holds',
  'the value read (a concurrent change by the service is never overwritten), and a rerun skips',
  'values already under the current version. Values that cannot be decrypted are left as they',
  'are and named by column and row id (never by value).',
  '',
  'Exit status: 0 when every value could be read; 1 when some could not (see the report).',
  '',
  'Options:',
  `  --batch-size N  rows per batch, 1 to ${MAX_BATCH_SIZE} (default ${DEFAULT_BATCH_SIZE})`,
  '  --config FILE   JSON config file (environment variables override it)',
].join('\n');

/** `keys rotate-master` */
export async function rotateMaster(
  values: {
    config?: string | undefined;
    out?: string | undefined;
    format?: string | undefined;
  },
  io: CliIo,
): Promise<number> {
  const format = (values.format ?? 'value') as KeyringFormat;
  if (format !== 'value' && format !== 'json') {
    throw new CliUsageError(`--format must be "value" or "json", not "${values.format}"`);
  }
  if (values.format !== undefined && values.out === undefined) {
    throw new CliUsageError('--format applies to --out only');
  }
  const { loadCliContext, withServices } = await import('../context.js');
  const { createSecretFile, keyringText, KeyringError, rotateKeyFile } =
    await import('../../crypto/index.js');
  const context = loadCliContext(values.config, io);
  const { keys } = context.config;
  const source =
    keys.masterKey !== undefined
      ? ({ kind: 'value' } as const)
      : ({
          kind: 'file',
          path: keys.masterKeyFile ?? keys.devKeyFile,
          dev: keys.masterKeyFile === undefined,
        } as const);
  if (source.kind === 'value' && values.out === undefined) {
    throw new CliUsageError(
      'the master key comes from BULWARK_MASTER_KEY (keys.masterKey), which this command cannot change: give --out FILE to receive the new keyring',
    );
  }
  if (source.kind === 'file' && values.out !== undefined) {
    throw new CliUsageError(
      `the master key comes from the key file ${source.path}, which is rotated in place: --out is only for keys given as BULWARK_MASTER_KEY`,
    );
  }
  // Synchronous: nothing else in this process runs between reading and replacing the file.
  const rotate = (services: Services) => {
    const { keyring, events } = services;
    try {
      let previousVersion: number;
      let newVersion: number;
      let versions: number[];
      if (source.kind === 'file') {
        ({ previousVersion, newVersion, versions } = rotateKeyFile(source.path, keyring));
      } else {
        const next = keyring.addVersion();
        createSecretFile(pathIn(io, values.out!), keyringText(next, format));
        previousVersion = keyring.currentVersion;
        newVersion = next.currentVersion;
        versions = next.versions();
      }
      events.emit({
        type: 'keys.master_rotated',
        outcome: 'success',
        details: {
          previousVersion,
          newVersion,
          source: source.kind === 'value' ? 'value' : source.dev ? 'dev_key_file' : 'key_file',
          // A file rotated in place is live at the next restart; a value written with --out only
          // once the operator installs it.
          installed: source.kind === 'file',
        },
      });
      return { previousVersion, newVersion, versions };
    } catch (error) {
      // Its messages name files and versions, never key material.
      if (error instanceof KeyringError) throw new CliError(error.message, 1, { cause: error });
      // A file system error here is about the key file or --out, not the database.
      const code = (error as NodeJS.ErrnoException).code;
      if (typeof code === 'string') {
        const reason = (error as Error).message.split('\n')[0]!;
        throw new CliError(
          source.kind === 'file'
            ? `cannot rotate the key file ${source.path}: ${reason}. Fix: run as a user who may write the file and its directory.`
            : `cannot write the new keyring to --out ${values.out!}: ${reason}. Fix: give --out a new file in an existing directory this user can write.`,
          1,
          { cause: error },
        );
      }
      throw error;
    }
  };
  const result = await withServices(context, (services) => Promise.resolve(rotate(services)), {
    existing: true,
  });
  const lines = [
    `master key version: ${result.newVersion} (was ${result.previousVersion})`,
    ...(source.kind === 'file'
      ? [
          `key file: ${source.path} (versions ${result.versions.join(', ')})`,
          'next: restart every instance, then run `bulwark keys reencrypt`',
        ]
      : [
          `new keyring written to: ${values.out} (versions ${result.versions.join(', ')}; ${format === 'json' ? 'key file for keys.masterKeyFile' : 'value for BULWARK_MASTER_KEY'})`,
          format === 'json'
            ? 'next: set keys.masterKeyFile to it and unset BULWARK_MASTER_KEY on every instance, restart, then run `bulwark keys reencrypt`'
            : 'next: store its content as BULWARK_MASTER_KEY for every instance, restart, delete the file, then run `bulwark keys reencrypt`',
        ]),
  ];
  const pinned = context.config.keys.currentVersion;
  if (pinned !== undefined) {
    lines.push(
      `note: keys.currentVersion pins version ${pinned}: new values stay under it until you unset it`,
    );
  }
  io.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

function parseBatchSize(text: string | undefined): number {
  if (text === undefined) return DEFAULT_BATCH_SIZE;
  const value = /^\d{1,6}$/.test(text) ? Number(text) : NaN;
  if (!(value >= 1 && value <= MAX_BATCH_SIZE)) {
    throw new CliUsageError(`--batch-size must be an integer from 1 to ${MAX_BATCH_SIZE}`);
  }
  return value;
}

/** The report as a table, then one line per unreadable value. */
export function formatReport(report: ReencryptReport): string {
  const header = [
    'column',
    'examined',
    're-encrypted',
    'already current',
    'changed meanwhile',
    'unreadable',
  ];
  const rows = report.columns.map((c) => [
    c.column,
    ...[c.examined, c.reencrypted, c.alreadyCurrent, c.changedMeanwhile, c.unreadable].map(String),
  ]);
  const sum = (pick: (c: ReencryptReport['columns'][number]) => number): string =>
    String(report.columns.reduce((total, c) => total + pick(c), 0));
  rows.push([
    'total',
    sum((c) => c.examined),
    sum((c) => c.reencrypted),
    sum((c) => c.alreadyCurrent),
    sum((c) => c.changedMeanwhile),
    sum((c) => c.unreadable),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    cells
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  const out = [`key version: ${report.keyVersion}`, line(header), ...rows.map(line)];
  for (const c of report.columns) {
    for (const row of c.unreadableRows) {
      out.push(`unreadable: ${c.column} id=${row.id} (${row.reason.replaceAll('_', ' ')})`);
    }
    if (c.unreadable > c.unreadableRows.length) {
      out.push(`unreadable: ${c.column} and ${c.unreadable - c.unreadableRows.length} more`);
    }
  }
  return `${out.join('\n')}\n`;
}

const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** `keys reencrypt` */
export async function reencrypt(
  values: {
    config?: string | undefined;
    'batch-size'?: string | undefined;
  },
  io: CliIo,
): Promise<number> {
  const batchSize = parseBatchSize(values['batch-size']);
  const { loadCliContext, withServices } = await import('../context.js');
  const { encryptedColumns, reencryptAll } = await import('../../db/index.js');
  const context = loadCliContext(values.config, io);
  const controller = new AbortController();
  // Ctrl-C, a kill, or the terminal going away (SIGHUP: a dropped SSH session) stops after the
  // batch in flight, records the interrupted run in the audit log and prints what was done.
  const stop = (): void => controller.abort();
  for (const signal of STOP_SIGNALS) process.once(signal, stop);
  try {
    const report = await withServices(
      context,
      async (services) => {
        const progress = new ProgressBar(io.stderr);
        let result: ReencryptReport;
        try {
          result = await reencryptAll(services.db.kysely, services.keyring, {
            batchSize,
            signal: controller.signal,
            onProgress: ({ column, done, total }) => progress.update(column, done, total),
          });
        } finally {
          progress.end();
        }
        const total = (pick: (c: ReencryptReport['columns'][number]) => number): number =>
          result.columns.reduce((sum, c) => sum + pick(c), 0);
        const unreadable = total((c) => c.unreadable);
        services.events.emit({
          type: 'keys.reencrypted',
          outcome: unreadable > 0 || result.aborted ? 'failure' : 'success',
          details: {
            keyVersion: result.keyVersion,
            examined: total((c) => c.examined),
            reencrypted: total((c) => c.reencrypted),
            alreadyCurrent: total((c) => c.alreadyCurrent),
            changedMeanwhile: total((c) => c.changedMeanwhile),
            unreadable,
            interrupted: result.aborted,
            columns: encryptedColumns().map((c) => c.name),
          },
        });
        return result;
      },
      { existing: true },
    );
    io.stdout.write(formatReport(report));
    const unreadable = report.columns.reduce((sum, c) => sum + c.unreadable, 0);
    const changed = report.columns.reduce((sum, c) => sum + c.changedMeanwhile, 0);
    if (report.aborted) {
      io.stderr.write('bulwark keys: interrupted; run it again to finish\n');
      return 130;
    }
    if (changed > 0) {
      io.stderr.write(
        `bulwark keys: ${changed} value(s) changed while this ran and were left as written; run it again to check them\n`,
      );
    }
    if (unreadable > 0) {
      io.stderr.write(
        `bulwark keys: ${unreadable} value(s) could not be decrypted with any key in the keyring and were left untouched (listed above)\n`,
      );
      return 1;
    }
    return 0;
  } finally {
    for (const signal of STOP_SIGNALS) process.off(signal, stop);
  }
}
