import type { KeyMaterial } from '../../tools/jwt-inspect.js';
import { shownUrl } from '../../tools/shown-url.js';
import { terminalText } from '../../tools/terminal-text.js';
import { CliError, CliUsageError, parseCommandArgs, type Command } from '../args.js';
import type { CliIo } from '../io.js';
import { readFileBounded, readStdinBounded } from '../read-input.js';

const MAX_INPUT_BYTES = 256 * 1024;
const FETCH_TIMEOUT_MS = 10_000;
/** Exit code for a token that was read but not verified (no key given). */
const EXIT_UNVERIFIED = 3;
/**
 * Exit code when the JWKS at --jwks-url cannot be obtained (EX_UNAVAILABLE in sysexits.h, as
 * `bulwark audit` exits when its target does not answer): a script tells "the issuer is down or
 * misconfigured" (retry, alert) from "the token is bad" (1), which a retry never fixes.
 */
const EX_UNAVAILABLE = 69;

const usage = [
  'Usage: bulwark jwt verify (--token-file FILE | --token-stdin) [key] [options]',
  '',
  'Decodes a JWT, checks its signature and claims, and lints it against RFC 8725 and RFC 9068:',
  'alg (none, HS*), the signature, headers that carry their own key (jku, jwk, x5u, x5c), crit,',
  'kid, typ, exp, nbf, iat, the lifetime, iss, aud, sub and jti. Every problem is listed. The same',
  'checks as the JWT verifier page of `bulwark tools`.',
  '',
  'Key (one of; none: decode and lint only):',
  '  --jwks-url URL       a JWKS to fetch (10 s, 256 KiB at most)',
  '  --jwks-file FILE     a JWKS or one JWK (public keys only)',
  '  --pem-file FILE      a PEM public key or certificate',
  '  --secret-file FILE   an HMAC secret (HS256/384/512), the whole file',
  '',
  'Options:',
  '  --issuer ISS         the iss the token must name',
  '  --audience AUD       the aud the token must name',
  '  --clock-tolerance N  seconds of tolerance for exp, nbf and iat (default 0)',
  '  --json               one JSON document instead of the table',
  '',
  'Exit codes: 0 valid (signature verified, no check failed), 1 invalid (or not a JWT), 3 not',
  'verified (no key given, no check failed), 69 the JWKS at --jwks-url could not be obtained (no',
  'answer, not 2xx, not a JWKS), 2 bad arguments. The token is never printed.',
].join('\n');

async function readBounded(io: CliIo, file: string, what: string): Promise<string> {
  return (await readFileBounded(io, file, MAX_INPUT_BYTES, what)).toString('utf8');
}

async function readStdin(io: CliIo): Promise<string> {
  return (await readStdinBounded(io, MAX_INPUT_BYTES)).toString('utf8');
}

/** A --jwks-url mistake found without asking the URL: a usage error (exit 2). */
function jwksUrlMistake(problem: 'not-a-url' | 'not-http' | 'credentials', text: string): Error {
  // The URL is shown without its user name and password or its query values (shownUrl).
  switch (problem) {
    case 'not-a-url':
      return new CliUsageError(`--jwks-url "${shownUrl(text)}" is not a URL`);
    case 'not-http':
      return new CliUsageError('--jwks-url must be http or https');
    case 'credentials':
      return new CliUsageError(
        `--jwks-url must not contain a user name or password (${shownUrl(text)}): a JWKS is public`,
      );
  }
}

/** The --jwks-url given, checked without asking it; its mistakes are usage errors (exit 2). */
async function checkJwksUrl(text: string): Promise<URL> {
  const { jwksUrl } = await import('../../tools/fetch-text.js');
  const checked = jwksUrl(text);
  if (checked.ok) return checked.url;
  throw jwksUrlMistake(checked.problem, text);
}

/** The JWKS at `url`, or a CliError with exit 69 when no answer came, not a 2xx one, or none. */
async function fetchJwks(url: URL): Promise<string> {
  const { fetchJwks: fetchJwksUrl } = await import('../../tools/fetch-text.js');
  const result = await fetchJwksUrl(url.href, {
    timeoutMs: FETCH_TIMEOUT_MS,
    maxBytes: MAX_INPUT_BYTES,
  });
  if (result.ok) return result.text;
  switch (result.problem) {
    case 'unreachable':
      throw new CliError(
        `cannot fetch the JWKS at ${shownUrl(url)}: ${result.reason}`,
        EX_UNAVAILABLE,
      );
    case 'status':
      throw new CliError(`the JWKS URL ${shownUrl(url)} answered ${result.status}`, EX_UNAVAILABLE);
    case 'empty':
      // inspectJwt would read empty key material as none given: "not verified" (3).
      throw new CliError(
        `the JWKS URL ${shownUrl(url)} did not answer a usable JWKS: the answer is empty.`,
        EX_UNAVAILABLE,
      );
    default:
      throw jwksUrlMistake(result.problem, url.href);
  }
}

/** `bulwark jwt verify`: the JWT verifier on the command line. */
export const jwt: Command = {
  synopsis: 'jwt verify',
  summary: 'verify and lint a JWT (signature, claims, RFC 8725); exit 1 when invalid',
  usage,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, {
      'token-file': { type: 'string' },
      'token-stdin': { type: 'boolean' },
      'jwks-url': { type: 'string' },
      'jwks-file': { type: 'string' },
      'pem-file': { type: 'string' },
      'secret-file': { type: 'string' },
      issuer: { type: 'string' },
      audience: { type: 'string' },
      'clock-tolerance': { type: 'string' },
      json: { type: 'boolean' },
    });
    if (positionals[0] !== 'verify' || positionals.length !== 1) {
      throw new CliUsageError(
        positionals.length === 0
          ? 'say what to do: bulwark jwt verify'
          : `unknown jwt command "${positionals.join(' ')}"`,
      );
    }
    if ((values['token-file'] === undefined) === !values['token-stdin']) {
      throw new CliUsageError(
        'give the token with --token-file FILE or --token-stdin (never as an argument: other users can read those)',
      );
    }
    const keys = ['jwks-url', 'jwks-file', 'pem-file', 'secret-file'] as const;
    const given = keys.filter((name) => values[name] !== undefined);
    if (given.length > 1)
      throw new CliUsageError(`give one key, not ${given.map((n) => `--${n}`).join(' and ')}`);
    const tolerance = values['clock-tolerance'];
    if (tolerance !== undefined && (!/^\d+$/.test(tolerance) || Number(tolerance) > 3600)) {
      throw new CliUsageError(
        `--clock-tolerance must be a whole number of seconds from 0 to 3600, not "${tolerance}"`,
      );
    }

    const jwksUrl =
      values['jwks-url'] === undefined ? undefined : await checkJwksUrl(values['jwks-url']);

    const token = (
      values['token-file'] === undefined
        ? await readStdin(io)
        : await readBounded(io, values['token-file'], 'token')
    ).trim();
    const key: KeyMaterial = {};
    if (values['jwks-file'] !== undefined)
      key.jwks = await readBounded(io, values['jwks-file'], 'JWKS');
    if (values['pem-file'] !== undefined)
      key.pem = await readBounded(io, values['pem-file'], 'PEM');
    if (values['secret-file'] !== undefined)
      key.secret = (await readBounded(io, values['secret-file'], 'secret')).replace(/\r?\n$/, '');

    // After the key options, whose mistakes are usage errors (exit 2) worth reporting first.
    if (token === '') {
      throw new CliError(
        values['token-file'] === undefined
          ? 'standard input is empty: no token to verify'
          : `the token file ${values['token-file']} is empty`,
      );
    }
    // Loaded here, not at the top: the CLI's other commands (serve above all) start without it.
    const { InspectInputError, decodeJws, inspectJwt } = await import('../../tools/jwt-inspect.js');
    if (jwksUrl !== undefined) {
      // What is not a JWT is invalid whatever the key set says: 1, without asking the URL, so
      // that 69 (the key set could not be obtained) never hides a token no retry would save.
      try {
        decodeJws(token);
      } catch (error) {
        if (error instanceof InspectInputError) throw new CliError(error.message);
        throw error;
      }
      key.jwks = await fetchJwks(jwksUrl);
    }
    let result;
    try {
      result = await inspectJwt(token, {
        key,
        ...(values.issuer === undefined ? {} : { issuer: values.issuer }),
        ...(values.audience === undefined ? {} : { audience: values.audience }),
        ...(tolerance === undefined ? {} : { clockToleranceSeconds: Number(tolerance) }),
      });
    } catch (error) {
      // An answer from the URL that is no usable key set (HTML, a discovery document, private
      // keys): the key set could not be obtained, as with no answer at all.
      if (error instanceof InspectInputError && error.field === 'key.jwks' && jwksUrl !== undefined)
        throw new CliError(
          `the JWKS URL ${shownUrl(jwksUrl)} did not answer a usable JWKS: ${error.message}`,
          EX_UNAVAILABLE,
        );
      if (error instanceof InspectInputError) throw new CliError(error.message);
      throw error;
    }
    if (values.json) {
      io.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    } else {
      const width = Math.max(...result.findings.map((f) => f.check.length));
      const verdicts = {
        valid: 'VALID: the signature verifies and every check passes.',
        invalid: 'INVALID: do not trust this token.',
        unverified: 'NOT VERIFIED: no key was given, so nothing in it can be trusted yet.',
      };
      io.stdout.write(
        [
          verdicts[result.verdict],
          '',
          ...result.findings.map(
            (f) =>
              // Messages quote the token's own alg, typ and crit: its control characters escaped.
              `  ${(f.status === 'pass' ? 'pass' : f.status.toUpperCase()).padEnd(4)}  ${f.check.padEnd(width)}  ${terminalText(f.message)}`,
          ),
          '',
          // JSON escapes C0 but not C1 (a lone CSI) nor bidi overrides.
          `header   ${terminalText(JSON.stringify(result.header))}`,
          `payload  ${terminalText(JSON.stringify(result.payload))}`,
          '',
        ].join('\n'),
      );
    }
    return result.verdict === 'valid' ? 0 : result.verdict === 'invalid' ? 1 : EXIT_UNVERIFIED;
  },
};
