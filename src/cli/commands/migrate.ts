import { CliUsageError, parseCommandArgs, type Command } from '../args.js';

export const migrate: Command = {
  summary: 'apply pending database migrations, then exit',
  usage: [
    'Usage: bulwark migrate [--config FILE]',
    '',
    'Applies every pending migration to the configured database (DATABASE_URL, or the SQLite',
    'file database.sqlitePath) and prints their names, or "database is up to date". Needs no',
    'master key and starts no server. Safe to run from several deploy jobs at once: they take',
    'a lock and the later ones find nothing to do.',
    '',
    'To migrate in a deploy step instead of at start, set BULWARK_DATABASE_MIGRATE_ON_START=false',
    'for the service and run `bulwark migrate` before starting the new version.',
    '',
    'Options:',
    '  --config FILE   JSON config file (environment variables override it)',
  ].join('\n'),
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, { config: { type: 'string' } });
    if (positionals.length > 0) throw new CliUsageError('migrate takes no arguments');
    const { loadCliContext, withDatabase } = await import('../context.js');
    const { migrateToLatest } = await import('../../db/index.js');
    const context = loadCliContext(values.config, io);
    const { applied } = await withDatabase(context, (db) => migrateToLatest(db));
    io.stdout.write(
      applied.length === 0
        ? 'database is up to date\n'
        : applied.map((name) => `applied ${name}\n`).join(''),
    );
    return 0;
  },
};
