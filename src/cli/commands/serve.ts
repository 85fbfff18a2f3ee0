import type { Config } from '../../config/index.js';
import { CliUsageError, parseCommandArgs, type Command } from '../args.js';
import { pathIn } from '../io.js';
import type { toCliError as ToCliError } from '../context.js';

export const serve: Command = {
  summary: 'run the service (default)',
  usage: [
    'Usage: bulwark serve [--config FILE]',
    '',
    'Runs the HTTP service. Settings come from the environment (BULWARK_*, PORT, HOST, DATABASE_URL,',
    'REDIS_URL) and an optional JSON file; see docs/config.md.',
  ].join('\n'),
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, { config: { type: 'string' } });
    // `bulwark serve migrate` must not quietly start a server instead of what was meant.
    if (positionals.length > 0) {
      throw new CliUsageError(`serve takes no arguments (got "${positionals[0]}")`);
    }
    // A signal before runServer takes over (while the config and the server's modules load)
    // would end the process without a word. Nothing is open yet: it is noted, and the command
    // stops as soon as it has a logger to say so (runServer handles what comes after).
    let early: NodeJS.Signals | undefined;
    const note = (signal: NodeJS.Signals): void => {
      early ??= signal;
    };
    // SIGHUP would exit the process (Node's default); nothing has read the TLS certificate yet,
    // so there is nothing to reload.
    const ignore = (): void => undefined;
    const forget = (): void => {
      process.off('SIGTERM', note);
      process.off('SIGINT', note);
      process.off('SIGHUP', ignore);
    };
    process.on('SIGTERM', note);
    process.on('SIGINT', note);
    process.on('SIGHUP', ignore);
    let running: Promise<unknown>;
    let config: Config;
    let toCliError: typeof ToCliError;
    try {
      const { loadCliConfig } = await import('../context.js');
      config = loadCliConfig(values.config, io);
      // The file too, not just its settings: production refuses one that others can read.
      const files = values.config === undefined ? {} : { configFile: pathIn(io, values.config) };
      // buildApp checks this too (for every embedder); checked here first, a refused production
      // deploy is answered before the HTTP stack loads, in a fraction of the time.
      const { assertProductionPosture } = await import('../../posture/index.js');
      assertProductionPosture(config, files);
      const { runServer } = await import('../../server.js');
      ({ toCliError } = await import('../context.js'));
      // A signal that came while the modules loaded or the config was read is noted only now.
      const { eventLoopTurn } = await import('../../start-checkpoint.js');
      await eventLoopTurn();
      if (early !== undefined) {
        const { loggerFor } = await import('../../app.js');
        loggerFor(config).info({ signal: early }, 'shutting down during start-up');
        return 0;
      }
      // runServer installs its own handlers before its first await, so removing these after
      // the call leaves no moment without one (which would let a signal kill the process).
      running = runServer(config, files);
    } finally {
      forget();
    }
    try {
      await running;
    } catch (error) {
      // A port in use, a wrong master key, a missing table ...: one line with the fix, no stack.
      throw toCliError(error, config);
    }
    return -1; // keep running; the process exits from the signal handler
  },
};
