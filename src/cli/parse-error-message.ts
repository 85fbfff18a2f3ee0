import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

/** The arguments as parseArgs reads them without refusing any: options, values, positionals. */
export function lenientTokens(args: string[], options: Options) {
  return parseArgs({ args, options, allowPositionals: true, strict: false, tokens: true }).tokens;
}

/** An argument strict parseArgs refuses as a string option's separate value (`--email --name`). */
function isOptionLike(value: string): boolean {
  return value.length > 1 && value.startsWith('-');
}

/**
 * A short message of ours for an error strict parseArgs threw on `args`. Node's own are long
 * ("To specify a positional argument starting with a '-', place it at the end of the command
 * after '--' …") and speak of its API ("Option '--email <value>' argument missing"). The argument
 * at fault is found again among the tokens of a lenient parse, checked in the order the strict
 * parse checks them, so it is the one the error was about. Only an option's name is quoted,
 * never a value given with it: `--pasword=secret` is a typo away from a password.
 */
export function parseErrorMessage(error: Error, args: string[], options: Options): string {
  const tokens = lenientTokens(args, options);
  const code = (error as { code?: unknown }).code;
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const unknown = tokens.find(
      (token) => token.kind === 'option' && !Object.hasOwn(options, token.name),
    );
    if (unknown?.kind === 'option') return `unknown option ${unknown.rawName}`;
  }
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    for (const token of tokens) {
      if (token.kind !== 'option' || !Object.hasOwn(options, token.name)) continue;
      const type = options[token.name]?.type;
      if (type === 'string' && token.value === undefined)
        return `option ${token.rawName} needs a value`;
      // Refused as ambiguous by parseArgs: the value was most likely forgotten.
      if (type === 'string' && !token.inlineValue && isOptionLike(token.value ?? ''))
        return `option ${token.rawName} needs a value (for one that starts with "-", write --${token.name}=VALUE)`;
      if (type === 'boolean' && token.value !== undefined)
        return `option ${token.rawName} takes no value`;
    }
  }
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
    const positional = tokens.find((token) => token.kind === 'positional');
    // Counted, not quoted: a stray argument may be a password typed in the wrong place.
    if (positional?.kind === 'positional') {
      return `argument ${positional.index + 1} was not expected`;
    }
  }
  // A refusal this does not know (a later Node's): its first sentence, without the advice on
  // parseArgs's own syntax.
  return error.message.split(/\.?\n|\. /)[0] ?? error.message;
}
