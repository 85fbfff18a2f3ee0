import { parseArgs, type ParseArgsConfig } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseErrorMessage } from '../../src/cli/parse-error-message.js';

/*
 * The short messages that replace Node's parseArgs errors, one per error code, checked against
 * what parseArgs really throws (the CLI runs with positionals allowed, so the unexpected
 * positional is reached here only, with them refused).
 */

const OPTIONS = {
  email: { type: 'string', short: 'e' },
  'dry-run': { type: 'boolean', short: 'd' },
} satisfies NonNullable<ParseArgsConfig['options']>;

/** The message for what strict parseArgs throws on `args`. */
function messageFor(args: string[], allowPositionals = true): string {
  try {
    parseArgs({ args, options: OPTIONS, allowPositionals, strict: true });
  } catch (error) {
    return parseErrorMessage(error as Error, args, OPTIONS);
  }
  throw new Error(`parseArgs took ${JSON.stringify(args)}`);
}

describe('parseErrorMessage', () => {
  it.each([
    // ERR_PARSE_ARGS_UNKNOWN_OPTION
    [['--bogus'], 'unknown option --bogus'],
    [['-x'], 'unknown option -x'],
    [['-dx'], 'unknown option -x'],
    [['--email', 'a@example.com', '--bogus=secret-value'], 'unknown option --bogus'],
    // ERR_PARSE_ARGS_INVALID_OPTION_VALUE
    [['--email'], 'option --email needs a value'],
    [['-e'], 'option -e needs a value'],
    [
      ['--email', '--dry-run'],
      'option --email needs a value (for one that starts with "-", write --email=VALUE)',
    ],
    [['--dry-run=yes'], 'option --dry-run takes no value'],
  ])('%j: %s', (args, message) => {
    expect(messageFor(args)).toBe(message);
  });

  it('names the first argument at fault, as parseArgs does', () => {
    expect(messageFor(['--dry-run=1', '--bogus'])).toBe('option --dry-run takes no value');
    expect(messageFor(['--bogus', '--dry-run=1'])).toBe('unknown option --bogus');
  });

  it('ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL: which argument, never its text', () => {
    expect(messageFor(['--dry-run', 'extra'], false)).toBe('argument 2 was not expected');
    expect(messageFor(['--', '--bogus'], false)).toBe('argument 2 was not expected');
  });

  it('never quotes a value given with an option', () => {
    expect(messageFor(['--bogus=hunter2-Xq9'])).not.toContain('hunter2-Xq9');
    expect(messageFor(['--dry-run=hunter2-Xq9'])).not.toContain('hunter2-Xq9');
  });

  it('keeps the first sentence of an error it does not know', () => {
    const error = Object.assign(new Error('Something new. With advice on parseArgs.'), {
      code: 'ERR_PARSE_ARGS_SOMETHING_NEW',
    });
    expect(parseErrorMessage(error, [], OPTIONS)).toBe('Something new');
  });
});
