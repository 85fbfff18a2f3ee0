import { CliUsageError, parseCommandArgs, type Command } from '../args.js';

export const serve: Command = {
  summary: 'run the service (default)',
  usage: [
    'Usage: bulwark serve [--config FILE]',
    '',
    'Runs the HTTP service. Settings come from the environment (BULWARK_*, PORT, HOST, DATABASE_URL,',
    'REDIS_URL) and an optional JSON file; see docs/config.md.',
  ].join('\n'),
  async run(args) {
    const { values, positionals } = parseCommandArgs(args, { config: { type: 'string' } });
    // `bulwark serve migrate` must not quietly start a server instead of what was meant.
    if (positionals.length > 0) {
      throw new CliUsageError(`serve takes no arguments (got "${positionals[0]}")`);
    }
    const { loadConfig } = await import('../../config/index.js');
    const config = loadConfig({ ...(values.config === undefined ? {} : { file: values.config }) });
    // The file too, not just its settings: production refuses one that others can read.
    const files = values.config === undefined ? {} : { configFile: values.config };
    // buildApp checks this too (for every embedder); checked here first, a refused production
    // deploy is answered before the HTTP stack loads, in a fraction of the time.
    const { assertProductionPosture } = await import('../../posture/index.js');
    assertProductionPosture(config, files);
    const { runServer } = await import('../../server.js');
    const { toCliError } = await import('../context.js');
    try {
      await runServer(config, files);
    } catch (error) {
      // A port in use, a wrong master key, a missing table ...: one line with the fix, no stack.
      throw toCliError(error, config);
    }
    return -1; // keep running; the process exits from the signal handler
  },
};
