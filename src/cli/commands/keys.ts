import { CliUsageError, parseCommandArgs, type Command } from '../args.js';
import { loadCliContext, withServices } from '../context.js';

export const keys: Command = {
  synopsis: 'keys rotate',
  summary: 'make a new JWT signing key; the old one verifies until its tokens expire',
  usage: [
    'Usage: bulwark keys rotate [--config FILE]',
    '',
    'Creates a new signing key for access tokens and retires the current one. The retired key',
    'stays in the JWKS and keeps verifying the tokens it signed until they have all expired',
    '(access-token lifetime + clock tolerance + one key refresh interval), so nobody is logged out.',
    'Prints the new key id and the retired one.',
    '',
    'Running instances re-read the keys every minute (and at once when they meet an unknown kid),',
    'so they switch to the new key and publish it in their JWKS without a restart.',
    '',
    'Needs the master key the database was set up with (BULWARK_MASTER_KEY or keys.masterKeyFile):',
    'private keys are stored encrypted under it.',
    '',
    'Options:',
    '  --config FILE   JSON config file (environment variables override it)',
  ].join('\n'),
  async run(args) {
    const { values, positionals } = parseCommandArgs(args, { config: { type: 'string' } });
    const [sub, ...extra] = positionals;
    if (sub !== 'rotate') {
      throw new CliUsageError(
        sub === undefined ? 'missing subcommand: rotate' : `unknown subcommand "${sub}"`,
      );
    }
    if (extra.length > 0) throw new CliUsageError('keys rotate takes no further arguments');
    const context = loadCliContext(values.config);
    const { kid, retired } = await withServices(context, async (services) => {
      const result = await services.signingKeys.rotate();
      services.events.emit({
        type: 'keys.rotated',
        outcome: 'success',
        target: { type: 'signing_key', id: result.kid },
        details: { retired: result.retired ?? null, via: 'cli' },
      });
      return result;
    });
    process.stdout.write(`new kid: ${kid}\nretired kid: ${retired ?? '(none)'}\n`);
    return 0;
  },
};
