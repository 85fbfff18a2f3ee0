import {
  check,
  evidence,
  finding,
  header,
  rateLimitedSkip,
  type Check,
  type ScanContext,
} from '../context.js';
import type { ProbeResponse, ScanFinding } from '../types.js';

const LINE = 11;

/** Text that only an internal error shows: stacks, source paths, SQL and driver errors. */
const LEAKS: { pattern: RegExp; what: string }[] = [
  { pattern: /\n\s+at [\w$.<>[\] ]+ \(?[^\s)]+:\d+:\d+\)?/, what: 'a stack trace' },
  { pattern: /\bat [\w$.<>]+ \((?:file:\/\/|\/|[A-Z]:\\)[^)]+:\d+:\d+\)/, what: 'a stack trace' },
  {
    pattern:
      /(?:\/node_modules\/|\/home\/\w|\/usr\/src\/|\/var\/www\/|[A-Z]:\\\\?(?:Users|inetpub)\\)/,
    what: 'a server file path',
  },
  {
    pattern:
      /\b(?:SQLITE_[A-Z]+|ER_[A-Z_]+|ORA-\d{5}|SQLSTATE\[|syntax error at or near|relation "[^"]+" does not exist|duplicate key value violates|near "[^"]+": syntax error)/,
    what: 'a database error',
  },
  {
    // Upper-case keywords, or lower-case ones before a quoted name (Knex, Sequelize; the quote
    // may be escaped in a JSON string): case-blind,
    // "Cannot delete from an empty cart" or "select one item from the list" were SQL text.
    pattern:
      /\b(?:SELECT \S.{0,80} FROM|INSERT INTO \S|UPDATE \S+ SET|DELETE FROM \S)|\bselect .{0,80}\bfrom \\?["`]|\b(?:insert into|delete from) \\?["`]|\bupdate \\?["`][^"`]{1,64}["`] set\b/,
    what: 'SQL text',
  },
  {
    // A stack inside a JSON string: its newlines are the two characters \ and n, and a frame may
    // have no function name (`at /app/dist/login.js:12:11`) or be one of Node's own (`node:`).
    pattern: /\\n\s*at (?:[\w$.<>[\] ]+ \()?(?:file:\/\/|\/|[A-Z]:\\|node:)[^\s()"]*:\d+:\d+\)?/,
    what: 'a stack trace',
  },
  {
    pattern: /\b(?:TypeError|ReferenceError|SyntaxError|RangeError): /,
    what: 'a JavaScript exception',
  },
  {
    // V8's messages, which frameworks (Fastify's default error handler) send without the type.
    // Bounded repetitions here and below: a hostile target's body of "a.a.a.…" made an unbounded
    // `[\w$.]+` before literal text quadratic (seconds per 64 KiB body, with the event loop held).
    pattern:
      /\bCannot (?:read|set) propert(?:y|ies) of (?:undefined|null)\b|\b[\w$.]{1,200} is not a function\b|\bMaximum call stack size exceeded\b/,
    what: 'a JavaScript exception',
  },
  {
    // Go, .NET, Ruby and PHP, for the APIs written in them.
    pattern:
      /\bgoroutine \d+ \[running\]|\bpanic: runtime error|\bSystem\.[\w.]{0,200}Exception\b|\.rb:\d+:in [`']|\.php(?::\d+| on line \d+)/,
    what: 'a stack trace',
  },
  {
    pattern:
      /\bTraceback \(most recent call last\)|\bjava\.lang\.\w+Exception|\bat [\w.]+\([\w]+\.java:\d+\)/,
    what: 'a stack trace',
  },
];

/** The answers to requests that go wrong: a missing route and a malformed body. */
export function errorProbes(ctx: ScanContext): Check[] {
  const checks = [check('errors.not-found', LINE, () => notFoundCheck(ctx.notFound!))];
  const target = ctx.login?.path;
  if (target !== undefined) {
    checks.push(check('errors.malformed-json', LINE, () => malformedJsonCheck(ctx, target)));
  }
  return checks;
}

function notFoundCheck(notFound: ProbeResponse): ScanFinding {
  const type = header(notFound, 'content-type') ?? '';
  return notFound.status !== 404
    ? finding(
        'errors.not-found',
        LINE,
        'warn',
        `An address nothing lives at was answered ${notFound.status}, not 404.`,
        {
          fix: 'Answer unknown routes with 404.',
          evidence: evidence(notFound),
        },
      )
    : /^application\/problem\+json/i.test(type)
      ? finding(
          'errors.not-found',
          LINE,
          'pass',
          'Unknown routes get 404 as application/problem+json.',
        )
      : finding(
          'errors.not-found',
          LINE,
          'warn',
          `Unknown routes get 404 as ${type || 'no content type'}, not application/problem+json.`,
          {
            fix: 'Answer every error with one RFC 9457 problem document (type, title, status, detail, a stable code).',
            evidence: evidence(notFound),
          },
        );
}

async function malformedJsonCheck(ctx: ScanContext, path: string): Promise<ScanFinding> {
  const malformed = await ctx.send({
    method: 'POST',
    path,
    headers: { 'content-type': 'application/json' },
    body: '{"email": "a@example.com", "password": ',
  });
  if (malformed.status === 404 || malformed.status === 405) {
    // Nothing there takes a body (a wrong --login-path): a 404 says nothing about parsing.
    return finding(
      'errors.malformed-json',
      LINE,
      'skip',
      `POST ${path} answered ${malformed.status}, so it is no JSON route and the malformed body was not judged: pass --login-path.`,
      { evidence: evidence(malformed) },
    );
  }
  const limited = rateLimitedSkip('errors.malformed-json', LINE, malformed);
  if (limited !== undefined) return limited;
  return malformed.status === 400
    ? finding('errors.malformed-json', LINE, 'pass', 'A malformed JSON body is refused with 400.')
    : finding(
        'errors.malformed-json',
        LINE,
        malformed.status >= 500 ? 'fail' : 'warn',
        `A malformed JSON body was answered ${malformed.status}.`,
        {
          fix: 'Refuse JSON that does not parse with 400 and a problem document.',
          evidence: evidence(malformed),
        },
      );
}

/** Over every response of the scan: no internal detail reached a client, and nothing failed with 5xx. */
export function errorLeakChecks(ctx: ScanContext): ScanFinding[] {
  const findings: ScanFinding[] = [];
  let leak: { what: string; at: string; sample: string } | undefined;
  for (const res of ctx.seen) {
    for (const { pattern, what } of LEAKS) {
      const match = pattern.exec(res.body);
      if (match !== null) {
        leak = { what, at: evidence(res), sample: match[0].trim().slice(0, 80) };
        break;
      }
    }
    if (leak !== undefined) break;
  }
  findings.push(
    leak === undefined
      ? finding(
          'errors.no-internals',
          LINE,
          'pass',
          `None of the ${ctx.seen.length} responses showed a stack trace, a file path or a database error.`,
        )
      : finding(
          'errors.no-internals',
          LINE,
          'fail',
          `A response shows ${leak.what}: "${leak.sample}".`,
          {
            fix: 'Answer errors with a generic problem document; log the details on the server only.',
            evidence: leak.at,
          },
        ),
  );
  const failed = ctx.seen.filter(
    (res) => res.status >= 500 && !(res.status === 503 && header(res, 'retry-after') !== undefined),
  );
  findings.push(
    failed.length === 0
      ? finding('errors.no-5xx', LINE, 'pass', 'No probe of the scan made the API fail (5xx).')
      : finding(
          'errors.no-5xx',
          LINE,
          'fail',
          `${failed.length} of the scan's requests made the API fail with 5xx: bad input must get a 4xx.`,
          {
            fix: 'Validate input before using it, and map every client mistake to a 4xx problem document.',
            evidence: evidence(failed[0]!),
          },
        ),
  );
  return findings;
}
