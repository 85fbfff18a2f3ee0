import { loadConfig } from '../../config/index.js';
import { parseCommandArgs, type Command } from '../args.js';

export const serve: Command = {
  summary: 'run the service (default)',
  usage: [
    'Usage: bulwark serve [--config FILE]',
    '',
    'Runs the HTTP service. Settings come from the environment (BULWARK_*, PORT, HOST, DATABASE_URL,',
    'REDIS_URL) and an optional JSON file; see docs/config.md.',
  ].join('\n'),
  async run(args) {
    const { values } = parseCommandArgs(args, { config: { type: 'string' } });
    const config = loadConfig({ ...(values.config === undefined ? {} : { file: values.config }) });
    // Loaded on demand, so the CLI's other commands and --help start without the HTTP stack.
    const { runServer } = await import('../../server.js');
    // The file too, not just its settings: production refuses one that others can read.
    await runServer(config, values.config === undefined ? {} : { configFile: values.config });
    return -1; // keep running; the process exits from the signal handler
  },
};
