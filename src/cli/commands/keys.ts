import { CliUsageError, parseCommandArgs, splitSubcommand, type Command } from '../args.js';
import { reencrypt, REENCRYPT_USAGE, ROTATE_MASTER_USAGE, rotateMaster } from './keys-master.js';

const SUBCOMMANDS = 'rotate, rotate-master, reencrypt';
/** Every option of every subcommand that takes a value: never mistaken for the subcommand. */
const ALL_OPTIONS = {
  config: { type: 'string' },
  out: { type: 'string' },
  format: { type: 'string' },
  'batch-size': { type: 'string' },
  now: { type: 'boolean' },
  'revoke-old': { type: 'boolean' },
} as const;

export const keys: Command = {
  synopsis: 'keys rotate',
  subcommands: [
    { synopsis: 'keys rotate', summary: 'rotate the JWT signing key' },
    { synopsis: 'keys rotate-master', summary: 'add a master key version and make it current' },
    { synopsis: 'keys reencrypt', summary: 'move stored values to the current master key' },
  ],
  summary:
    'rotate the JWT signing key; rotate-master and reencrypt rotate the master key (see --help)',
  options: ALL_OPTIONS,
  usage: [
    'Usage: bulwark keys rotate [--now | --revoke-old] [--config FILE]',
    '       bulwark keys rotate-master [--out FILE] [--format value|json] [--config FILE]',
    '       bulwark keys reencrypt [--batch-size N] [--config FILE]',
    '',
    'rotate-master adds a master key version, reencrypt moves stored values to it:',
    'see `bulwark keys rotate-master --help` and `bulwark keys reencrypt --help`.',
    '',
    'keys rotate:',
    '',
    'Creates the next signing key for access tokens. It is in the JWKS at once and signs from',
    'tokens.keyPublishAheadSeconds later (10 minutes by default), so verifiers that cache the JWKS',
    'know it before they meet its tokens; the current key signs until then. The retired key stays',
    'in the JWKS and keeps verifying the tokens it signed until they have all expired (access-token',
    'lifetime + clock tolerance + one key refresh interval), so nobody is logged out.',
    'Prints the new key id, the retired one and when the switch happens.',
    '',
    'Running instances re-read the keys at once when Redis is configured (the rotation is announced',
    'on it), otherwise every minute and when they meet an unknown kid, so they publish the new key',
    'and switch to it at its time without a restart.',
    '',
    'Needs the master key the database was set up with (BULWARK_MASTER_KEY or keys.masterKeyFile):',
    'private keys are stored encrypted under it.',
    '',
    'Options:',
    '  --now           the new key signs at once (a key that must stop signing now); verifiers',
    '                  holding a JWKS fetched before refuse its tokens until they fetch it again',
    '  --revoke-old    for a leaked key: as --now, and every other key stops verifying at once,',
    '                  so every access token issued before is refused (clients refresh; sessions',
    '                  stay). Other instances follow at once with Redis, else within a minute',
    '                  (at once when sent SIGHUP)',
    '  --config FILE   JSON config file (environment variables override it)',
  ].join('\n'),
  helpFor(args) {
    const { sub } = splitSubcommand(args, ALL_OPTIONS);
    if (sub === 'rotate-master') return ROTATE_MASTER_USAGE;
    if (sub === 'reencrypt') return REENCRYPT_USAGE;
    return undefined;
  },
  async run(args, io) {
    // The subcommand may follow the options (`keys --config FILE rotate-master`).
    const { sub, rest } = splitSubcommand(args, ALL_OPTIONS);
    if (sub === 'rotate-master') {
      const { values, positionals } = parseCommandArgs(rest, {
        config: { type: 'string' },
        out: { type: 'string' },
        format: { type: 'string' },
      });
      if (positionals.length > 0) throw new CliUsageError('keys rotate-master takes no arguments');
      return rotateMaster(values, io);
    }
    if (sub === 'reencrypt') {
      const { values, positionals } = parseCommandArgs(rest, {
        config: { type: 'string' },
        'batch-size': { type: 'string' },
      });
      if (positionals.length > 0) throw new CliUsageError('keys reencrypt takes no arguments');
      return reencrypt(values, io);
    }
    const { values, positionals } = parseCommandArgs(rest, {
      config: { type: 'string' },
      now: { type: 'boolean' },
      'revoke-old': { type: 'boolean' },
    });
    if (sub !== 'rotate') {
      throw new CliUsageError(
        sub === undefined
          ? `missing subcommand: ${SUBCOMMANDS}`
          : `unknown subcommand "${sub}" (expected ${SUBCOMMANDS})`,
      );
    }
    if (positionals.length > 0) throw new CliUsageError('keys rotate takes no further arguments');
    const { loadCliContext, withServices } = await import('../context.js');
    const context = loadCliContext(values.config, io);
    // rotate() records the keys.rotated event itself (every rotation path passes through it).
    const revokeOthers = values['revoke-old'] === true;
    const immediate = values.now === true || revokeOthers;
    const { kid, retired, signsFrom, revoked } = await withServices(
      context,
      (services) => services.signingKeys.rotate({}, { immediate, revokeOthers }),
      { existing: true },
    );
    // With Redis the rotation is announced and every running instance re-reads its keys at once;
    // without, each finds the new key at its next periodic re-read.
    // The same holds for --now and --revoke-old: the key signs, and the others are revoked, in
    // the database at once, but a running instance without Redis acts on it at its re-read.
    const announced = context.config.redis.url !== undefined;
    const published = announced
      ? 'in the JWKS now'
      : 'in the JWKS of running instances within a minute';
    const switched = announced ? 'now' : 'now; running instances switch to it within a minute';
    io.stdout.write(
      [
        `new kid: ${kid}`,
        `retired kid: ${retired ?? '(none)'}`,
        `signs from: ${new Date(signsFrom).toISOString()} (${immediate ? switched : published})`,
        ...(revokeOthers ? [`revoked kids: ${revoked.join(', ') || '(none)'}`] : []),
        ...(revokeOthers && !announced && revoked.length > 0
          ? [
              'Running instances refuse the revoked keys within a minute (no Redis announces the ' +
                'rotation to them); send them SIGHUP to refuse their tokens at once.',
            ]
          : []),
        '',
      ].join('\n'),
    );
    return 0;
  },
};
