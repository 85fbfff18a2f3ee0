import { authHeaderProblem } from '../../scan/auth-header.js';
import { MIN_TOKEN_LENGTH, SCAN_DEFAULTS } from '../../scan/defaults.js';
import { LoginBodyError, parseLoginBody } from '../../scan/login-body.js';
import type { ScanOptions } from '../../scan/types.js';
import { shownUrl } from '../../tools/shown-url.js';
import { CliError, CliUsageError, parseCommandArgs, type Command } from '../args.js';
import { readFileBounded, readStdinBounded } from '../read-input.js';

/** Longer than any access token worth the name; a bigger "token" is a wrong file. */
const MAX_TOKEN_BYTES = 16 * 1024;
const EX_UNAVAILABLE = 69;
/**
 * A scan stopped by --max-requests or --max-duration: no verdict, so not 0 (nothing was found to
 * be wrong either, so not 1, which CI baselines read as "a check failed"). Not sysexits' 75
 * EX_TEMPFAIL: it tells schedulers to run the same command again later, and the same limits stop
 * the same scan again; the fix is to raise them. 3 is what `bulwark jwt` exits with when it
 * reaches no verdict (no key to verify with), clashes with no other code of the CLI (0, 1, 2, 69,
 * 78) nor with Node's own (1, 4 to 14, over 128 for signals), and is non-zero so CI fails.
 */
const EX_INCOMPLETE = 3;
/** A bundle of CA certificates is a few KiB; a megabyte is a wrong file. */
const MAX_CA_BYTES = 1024 * 1024;

const usage = [
  'Usage: bulwark audit URL [options]',
  '',
  'Scans a running API from the outside against the security checklist: HTTPS and HSTS,',
  'security headers, CORS, authentication (with forged tokens: alg none, a changed signature or',
  'payload, HS256 keyed with the public key, an embedded jwk, kid injection), tokens in URLs,',
  'input handling (content type, body limit, prototype poisoning, unknown fields, TRACE), error',
  'answers (problem+json, no stack traces or SQL), open metrics, versioning and password-guessing',
  'limits. Routes are found in the OpenAPI document (JSON or YAML, at /openapi.json or another',
  'usual place) or given below.',
  '',
  "It sends only to URL (and to its origin's root for .env, .git and the like, when URL has a",
  'path; to --jwks-url, if that is elsewhere), at most --max-requests requests, one at a time.',
  'It tries wrong passwords at the login route until refused (--rate-limit-requests; 0 turns',
  "that off), which uses up the scanning address's login allowance: scan your own APIs only.",
  '',
  'Exit codes: 0 no fail (warnings allowed), 1 at least one fail (or warn, with --strict),',
  '2 bad arguments, 3 the scan was stopped incomplete by --max-requests or --max-duration',
  '(no report), 69 the target did not answer (or stopped answering).',
  '',
  'Options:',
  '  --token-file FILE        an access token (or API key) the API accepts, for the token',
  '                           attacks and the authenticated checks; never printed',
  '  --token-stdin            read that token from standard input',
  '  --auth-header NAME       send the token as it is in this header (X-API-Key) instead of',
  '                           Authorization: Bearer; the JWT checks run only if it is a JWT',
  '  --openapi PATH           where the OpenAPI document is (default: the first of /openapi.json,',
  '                           /openapi.yaml, /v3/api-docs, /swagger.json and other usual places)',
  '  --jwks-url URL|PATH      where the API publishes its public keys, on any origin, or a path',
  '                           under URL (default: /.well-known/jwks.json, else the jwks_uri of',
  '                           /.well-known/openid-configuration if it is on the same origin)',
  '  --protected-path PATH    a GET route that needs the token (default: from OpenAPI)',
  '  --login-path PATH        the password-login route, POST JSON (default: from OpenAPI)',
  '  --login-body JSON        the login body\'s shape, "{user}" and "{password}" marking where the',
  "                           probe's user name and wrong password go, e.g.",
  '                           \'{"username":"{user}","password":"{password}"}\' (default: from',
  '                           OpenAPI, else {"email":"{user}","password":"{password}"}; this wins)',
  `  --origin ORIGIN          the untrusted origin of the CORS probes (default ${SCAN_DEFAULTS.foreignOrigin})`,
  `  --rate-limit-requests N  wrong-password logins before concluding none is limited (default ${SCAN_DEFAULTS.rateLimitRequests})`,
  `  --max-requests N         the most requests the scan may send (default ${SCAN_DEFAULTS.maxRequests})`,
  `  --timeout-ms N           per request (default ${SCAN_DEFAULTS.timeoutMs})`,
  `  --max-duration N         seconds the whole scan may take (default ${SCAN_DEFAULTS.maxDurationMs / 1000})`,
  '  --ca FILE                extra CA certificates (PEM) to trust for an https URL',
  '  --json                   one JSON document instead of the table',
  '  --strict                 exit 1 on warnings too',
].join('\n');

function integer(
  name: string,
  value: string | undefined,
  min: number,
  max: number,
): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new CliUsageError(
      `--${name} must be a whole number from ${min} to ${max}, not "${value}"`,
    );
  }
  return Number(value);
}

const seconds = (value: number | undefined): number | undefined =>
  value === undefined ? undefined : value * 1000;

function path(name: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (!value.startsWith('/') || value.startsWith('//') || /\s/.test(value)) {
    throw new CliUsageError(
      `--${name} must be a path on the target starting with "/", not "${value}"`,
    );
  }
  return value;
}

/** --jwks-url: a path under the target, or an absolute http(s) URL without credentials. */
function jwksLocation(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (value.startsWith('/')) return path('jwks-url', value);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new CliUsageError(
      `--jwks-url must be an http or https URL or a path starting with "/", not "${shownUrl(value)}"`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new CliUsageError('--jwks-url must be http or https');
  if (url.username !== '' || url.password !== '') {
    // A JWKS is public; credentials in the URL would be printed in the report.
    throw new CliUsageError(
      `--jwks-url must not contain a user name or password (${shownUrl(value)}): a JWKS is public`,
    );
  }
  url.hash = '';
  return url.href;
}

function targetUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new CliUsageError(`"${shownUrl(text)}" is not a URL (e.g. https://api.example.com)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CliUsageError(`the URL must be http or https, not ${url.protocol.slice(0, -1)}`);
  }
  if (url.username !== '' || url.password !== '') {
    // They would be printed in the report; a token is given with --token-file instead.
    throw new CliUsageError('the URL must not contain a user name or password');
  }
  if (url.search !== '' || url.hash !== '') {
    // Every probe has its own path and query: a query here (an API key?) would silently go unsent.
    throw new CliUsageError(
      'the URL must not have a query or fragment: the scan sends its own paths (give the base URL, and a token with --token-file)',
    );
  }
  return url;
}

/**
 * The token read (at most MAX_TOKEN_BYTES: the readers refuse more): a bearer token's characters
 * (RFC 6750 §2.1 b64token), or for another header any visible ASCII (API keys have `:` or `$`),
 * never a space or a control character, which would end or split the header.
 */
function tokenFrom(raw: Buffer, source: string, bearer: boolean): string {
  const token = raw.toString('utf8').trim();
  if (token === '') throw new CliError(`${source} holds no token`);
  if (token.length < MIN_TOKEN_LENGTH) {
    // The report is kept clear of the token by replacing it wherever it appears; a few
    // characters cannot be replaced without taking words of the report with them.
    throw new CliError(
      `${source} holds a token of fewer than ${MIN_TOKEN_LENGTH} characters, which the report could not be kept clear of (no real access token or API key is that short)`,
    );
  }
  if (!(bearer ? /^[\w\-.~+/]+=*$/ : /^[\x21-\x7e]+$/).test(token)) {
    throw new CliError(
      `${source} does not hold one token (it has spaces or other characters ${bearer ? 'a bearer token' : 'a header value'} cannot have)`,
    );
  }
  return token;
}

/** --auth-header: an HTTP field name the scan does not set itself (see authHeaderProblem). */
function authHeaderName(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const problem = authHeaderProblem(value);
  if (problem !== undefined) throw new CliUsageError(`--auth-header ${problem}`);
  return value;
}

/** `bulwark audit URL`: the security scanner. */
export const audit: Command = {
  synopsis: 'audit URL',
  summary: 'scan a running API against the security checklist; exit 1 on any fail',
  usage,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, {
      'token-file': { type: 'string' },
      'token-stdin': { type: 'boolean' },
      'auth-header': { type: 'string' },
      openapi: { type: 'string' },
      'jwks-url': { type: 'string' },
      'protected-path': { type: 'string' },
      'login-path': { type: 'string' },
      'login-body': { type: 'string' },
      origin: { type: 'string' },
      'rate-limit-requests': { type: 'string' },
      'max-requests': { type: 'string' },
      'timeout-ms': { type: 'string' },
      'max-duration': { type: 'string' },
      ca: { type: 'string' },
      json: { type: 'boolean' },
      strict: { type: 'boolean' },
    });
    if (positionals.length !== 1) {
      throw new CliUsageError(
        positionals.length === 0 ? 'give the URL of the API to scan' : 'give one URL',
      );
    }
    if (values['token-file'] !== undefined && values['token-stdin']) {
      throw new CliUsageError('give the token with --token-file or --token-stdin, not both');
    }
    const target = targetUrl(positionals[0]!);
    let origin: string | undefined;
    if (values.origin !== undefined) {
      try {
        origin = new URL(values.origin).origin;
      } catch {
        throw new CliUsageError(
          `--origin must be an origin such as https://evil.example, not "${shownUrl(values.origin)}"`,
        );
      }
      if (origin === 'null') throw new CliUsageError('--origin must be an http or https origin');
    }
    const authHeader = authHeaderName(values['auth-header']);
    let token: string | undefined;
    const bearer = authHeader === undefined;
    if (values['token-file'] !== undefined) {
      const file = values['token-file'];
      const raw = await readFileBounded(io, file, MAX_TOKEN_BYTES, 'token');
      token = tokenFrom(raw, file, bearer);
    } else if (values['token-stdin']) {
      token = tokenFrom(await readStdinBounded(io, MAX_TOKEN_BYTES), 'standard input', bearer);
    }
    let ca: string | undefined;
    if (values.ca !== undefined) {
      const file = values.ca;
      ca = (await readFileBounded(io, file, MAX_CA_BYTES, 'CA')).toString('utf8');
    }
    let loginBody: Record<string, unknown> | undefined;
    if (values['login-body'] !== undefined) {
      try {
        loginBody = parseLoginBody(values['login-body']);
      } catch (error) {
        if (error instanceof LoginBodyError)
          throw new CliUsageError(`--login-body ${error.message}`);
        throw error;
      }
    }
    const options: ScanOptions = { target };
    const optional = {
      token,
      authHeader,
      ca,
      foreignOrigin: origin,
      openapiPath: path('openapi', values.openapi),
      jwksUrl: jwksLocation(values['jwks-url']),
      protectedPath: path('protected-path', values['protected-path']),
      loginPath: path('login-path', values['login-path']),
      loginBody,
      rateLimitRequests: integer('rate-limit-requests', values['rate-limit-requests'], 0, 1000),
      maxRequests: integer('max-requests', values['max-requests'], 10, 10_000),
      timeoutMs: integer('timeout-ms', values['timeout-ms'], 100, 120_000),
      maxDurationMs: seconds(integer('max-duration', values['max-duration'], 1, 86_400)),
    };
    for (const [key, value] of Object.entries(optional)) {
      if (value !== undefined) (options as unknown as Record<string, unknown>)[key] = value;
    }
    // Loaded here, not at the top: the CLI's other commands (serve above all) start without it.
    const [
      { BudgetExceededError, DeadlineExceededError },
      { renderJson, renderText, summarize },
      scanner,
    ] = await Promise.all([
      import('../../scan/client.js'),
      import('../../scan/report.js'),
      import('../../scan/scanner.js'),
    ]);
    const { runScan, ScanAbortedError, TargetUnreachableError } = scanner;
    let report;
    try {
      report = await runScan(options);
    } catch (error) {
      if (error instanceof TargetUnreachableError || error instanceof ScanAbortedError)
        throw new CliError(error.message, EX_UNAVAILABLE);
      if (error instanceof BudgetExceededError) {
        throw new CliError(
          `${error.message}: raise it, or lower --rate-limit-requests`,
          EX_INCOMPLETE,
        );
      }
      if (error instanceof DeadlineExceededError) {
        throw new CliError(`${error.message}: raise it, or lower --timeout-ms`, EX_INCOMPLETE);
      }
      // Whatever a target answers must not end in a stack trace (the message holds no token).
      throw new CliError(
        `the scan failed: ${error instanceof Error ? error.message : String(error)} (a bug in bulwark audit: please report it)`,
      );
    }
    io.stdout.write(`${values.json ? renderJson(report) : renderText(report)}\n`);
    const summary = summarize(report);
    return summary.fail > 0 || (values.strict && summary.warn > 0) ? 1 : 0;
  },
};
