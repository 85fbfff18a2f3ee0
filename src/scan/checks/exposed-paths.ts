import {
  check,
  evidence,
  finding,
  isSuccess,
  rateLimitedSkip,
  type Check,
  type ScanContext,
} from '../context.js';
import type { ProbeRequest } from '../client.js';
import type { ProbeResponse, ScanFinding } from '../types.js';

/** Checklist line 17: what a deployment left reachable that was never meant to be served. */
const LINE = 17;

/**
 * What was served is judged by its content, never by its status alone: a single-page app (or an
 * API with a catch-all route) answers 200 with its index.html to every path, `/.env` included.
 * Each pattern below is anchored or bounded, so a hostile body of 256 KiB costs one linear pass.
 */
const looksLikeHtml = (body: string): boolean => body.trimStart().startsWith('<');

/** A dotenv line: `KEY=value`, `export KEY=value` (a comment or a blank line is skipped). */
const DOTENV_LINE = /^(?:export[ \t]{1,16})?([A-Za-z_][A-Za-z0-9_.]{0,127})[ \t]{0,16}=/;
/** Lines of a dotenv file looked at: enough to find its first assignment, bounded. */
const DOTENV_LINES = 200;

/**
 * The names set by a dotenv file (never their values: the report goes to CI logs), or an empty
 * list when `body` is not one. Its first line that is not blank or a comment must be an
 * assignment: an HTML page or a JSON document never is.
 */
export function dotenvKeys(body: string): string[] {
  if (looksLikeHtml(body)) return [];
  const keys: string[] = [];
  let first = true;
  // split with a limit stops after that many lines: a body of newlines costs no more.
  for (const raw of body.split('\n', DOTENV_LINES)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const key = DOTENV_LINE.exec(line)?.[1];
    if (key === undefined) {
      if (first) return [];
      continue;
    }
    first = false;
    if (!keys.includes(key)) keys.push(key);
  }
  // Environment variables are named in capitals: a catch-all answering "status=ok" or a query
  // string ("a=1&b=2") is no dotenv file.
  return keys.some((key) => /^[A-Z][A-Z0-9_]{0,127}$/.test(key)) ? keys : [];
}

/** `.git/config` starts its first section with `[core]` (git writes it at the start of a line). */
export const looksLikeGitConfig = (body: string): boolean =>
  !looksLikeHtml(body) && /^\[core\][ \t]{0,16}\r?$/m.test(body);

/** `.git/HEAD`: a symbolic ref (`ref: refs/heads/main`) or a detached commit id. */
export const looksLikeGitHead = (body: string): boolean =>
  /^(?:ref: refs\/\S{1,255}|[0-9a-f]{40}|[0-9a-f]{64})\s{0,4}$/.test(body.trimStart());

/** An autoindex page: Apache, nginx and lighttpd ("Index of /"), Python, Node's serve-index. */
export const looksLikeDirectoryListing = (body: string): boolean =>
  /<(?:title|h1)>[ \t\r\n]{0,20}(?:Index of|Directory listing for|listing directory) \//i.test(
    body,
  );

/** Spring Boot Actuator endpoints that only the health check and build info should be among. */
const HARMLESS_ACTUATOR_LINKS = new Set(['self', 'health', 'health-path', 'info']);

function parseObject(body: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(body) as unknown;
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The endpoints a Spring Boot Actuator index lists (`{"_links": {"self": {"href": ".../actuator"},
 * "env": …}}`), or undefined. Its own link must end in /actuator: every HAL API (Spring Data
 * REST) answers with `_links`, and one answering its root at every path is no Actuator.
 */
export function actuatorLinks(body: string): string[] | undefined {
  // Parsed only when it may be one: any 200 JSON of a catch-all route would be parsed otherwise.
  if (!body.includes('"_links"')) return undefined;
  const links = parseObject(body)?._links;
  if (typeof links !== 'object' || links === null || Array.isArray(links)) return undefined;
  const self = (links as Record<string, unknown>).self;
  const href =
    typeof self === 'object' && self !== null ? (self as Record<string, unknown>).href : undefined;
  return typeof href === 'string' && /\/actuator\/?$/.test(href) ? Object.keys(links) : undefined;
}

/** `/actuator/env` (Boot 2 and 3: `propertySources`; Boot 1: `profiles` and `systemProperties`). */
export function looksLikeActuatorEnv(body: string): boolean {
  if (!body.includes('"propertySources"') && !body.includes('"systemProperties"')) return false;
  const env = parseObject(body);
  return (
    env !== undefined &&
    (Array.isArray(env.propertySources) ||
      (Array.isArray(env.profiles) && typeof env.systemProperties === 'object'))
  );
}

const notServed = (res: ProbeResponse, what = 'the file'): string =>
  `${res.path} ${
    isSuccess(res)
      ? `answered ${res.status}, but not with ${what}${looksLikeHtml(res.body) ? ' (an HTML page: a single-page app answering every path?)' : ''}`
      : res.status === 401 || res.status === 403
        ? `is refused (${res.status})`
        : `is not served (${res.status})`
  }`;

/**
 * Where a file is looked for: under the base path, like every probe, and when the base has a
 * path of its own (`https://host/api`), at the origin's root as well (`https://host/.env`): a
 * deployment that serves the project directory does so at the root, whatever path the API is
 * proxied under. A probe at the root is named by its whole URL, in reasons and evidence alike.
 * The root is the base when the base has no path: each URL is probed once.
 */
type Place = (path: string) => ProbeRequest;

function places(ctx: ScanContext): Place[] {
  const base: Place = (path) => ({ path });
  if (ctx.client.basePath === '') return [base];
  const root: Place = (path) => {
    const url = new URL(path, ctx.client.origin);
    return { path: url.href, url };
  };
  return [base, root];
}

/**
 * Files and endpoints a mature scanner looks for and a deployment should never serve: the
 * dotenv file, the git repository, Spring Boot Actuator's environment and dumps, a directory
 * listing of the base path. Four or five requests under the base path, and as many again at the
 * origin's root when the base has a path.
 */
export function exposedPathChecks(ctx: ScanContext): Check[] {
  return [
    check('exposure.env-file', LINE, () => envFileCheck(ctx)),
    check('exposure.git', LINE, () => gitCheck(ctx)),
    check('exposure.actuator', LINE, () => actuatorCheck(ctx)),
    check('exposure.directory-listing', LINE, () => directoryListingCheck(ctx)),
  ];
}

async function envFileCheck(ctx: ScanContext): Promise<ScanFinding> {
  const id = 'exposure.env-file';
  const answers: ProbeResponse[] = [];
  for (const place of places(ctx)) {
    const res = await ctx.send(place('/.env'));
    const limited = rateLimitedSkip(id, LINE, res);
    if (limited !== undefined) return limited;
    const keys = isSuccess(res) ? dotenvKeys(res.body) : [];
    if (keys.length > 0) {
      const named = keys.slice(0, 5).join(', ');
      return finding(
        id,
        LINE,
        'fail',
        `${res.path} is served to anyone: a dotenv file setting ${named}${keys.length > 5 ? `, and ${keys.length - 5} more` : ''} (its values are left out of this report).`,
        {
          fix: 'Serve only a public directory, never the project root; rotate every secret the file holds, since anyone may have read it.',
          evidence: evidence(res),
        },
      );
    }
    answers.push(res);
  }
  return finding(id, LINE, 'pass', `${answers.map((res) => notServed(res)).join('; ')}.`);
}

async function gitCheck(ctx: ScanContext): Promise<ScanFinding> {
  const id = 'exposure.git';
  const fix =
    'Serve only a public directory, never a git checkout (or deny /.git/ at the proxy); the repository holds the source, its history and often credentials in remote URLs.';
  const answers: string[] = [];
  for (const place of places(ctx)) {
    const config = await ctx.send(place('/.git/config'));
    const limited = rateLimitedSkip(id, LINE, config);
    if (limited !== undefined) return limited;
    if (isSuccess(config) && looksLikeGitConfig(config.body)) {
      return finding(
        id,
        LINE,
        'fail',
        `${config.path} is served to anyone: the git repository is.`,
        { fix, evidence: evidence(config) },
      );
    }
    // A checkout whose config the server will not send (or was removed) may still serve HEAD,
    // and with it every object: the repository can be rebuilt from them.
    const head = await ctx.send(place('/.git/HEAD'));
    const headLimited = rateLimitedSkip(id, LINE, head);
    if (headLimited !== undefined) return headLimited;
    if (isSuccess(head) && looksLikeGitHead(head.body)) {
      return finding(id, LINE, 'fail', `${head.path} is served to anyone: the git repository is.`, {
        fix,
        evidence: evidence(head),
      });
    }
    answers.push(notServed(config), notServed(head));
  }
  return finding(id, LINE, 'pass', `${answers.join('; ')}.`);
}

/** " at https://host/actuator" for the origin's root; nothing under the base path, as before. */
const at = (index: ProbeResponse): string =>
  index.path === '/actuator' ? '' : ` at ${index.path}`;

async function actuatorCheck(ctx: ScanContext): Promise<ScanFinding> {
  const id = 'exposure.actuator';
  const fix =
    'Expose only health (and info) over the web (management.endpoints.web.exposure.include=health,info), or serve Actuator on a management port only operators reach (management.server.port).';
  const answers: string[] = [];
  for (const place of places(ctx)) {
    const index = await ctx.send(place('/actuator'));
    const limited = rateLimitedSkip(id, LINE, index);
    if (limited !== undefined) return limited;
    // Sent even when the index is not there: discovery can be off with the endpoints still on.
    const env = await ctx.send(place('/actuator/env'));
    const envLimited = rateLimitedSkip(id, LINE, env);
    if (envLimited !== undefined) return envLimited;
    if (isSuccess(env) && looksLikeActuatorEnv(env.body)) {
      return finding(
        id,
        LINE,
        'fail',
        `${env.path} is open to anyone: Spring Boot Actuator shows the application's configuration (property names, and values unless masked).`,
        { fix, evidence: evidence(env) },
      );
    }
    const links = isSuccess(index) ? actuatorLinks(index.body) : undefined;
    const open = (links ?? []).filter((name) => !HARMLESS_ACTUATOR_LINKS.has(name));
    if (open.length > 0) {
      return finding(
        id,
        LINE,
        'fail',
        `Spring Boot Actuator${at(index)} is open to anyone with ${open.slice(0, 8).join(', ')}${open.length > 8 ? ` and ${open.length - 8} more` : ''} (heap and thread dumps, configuration, routes and log levels are for operators only).`,
        { fix, evidence: evidence(index) },
      );
    }
    answers.push(
      links === undefined
        ? `${notServed(index, 'an Actuator index')}; ${notServed(env, 'an Actuator document')}`
        : `Spring Boot Actuator${at(index)} lists only ${links.join(', ') || 'nothing'}; ${notServed(env, 'an Actuator document')}`,
    );
  }
  return finding(id, LINE, 'pass', `${answers.join('; ')}.`);
}

async function directoryListingCheck(ctx: ScanContext): Promise<ScanFinding> {
  const id = 'exposure.directory-listing';
  const fix =
    'Turn directory listings off (nginx autoindex off; Apache Options -Indexes) and serve the API, not a directory.';
  // The base path's answer is the scan's first; the origin's root is asked only when it differs.
  const [, root] = places(ctx);
  const answers = [ctx.home];
  for (const [index, res] of answers.entries()) {
    const limited = rateLimitedSkip(id, LINE, res);
    if (limited !== undefined) return limited;
    if (isSuccess(res) && looksLikeDirectoryListing(res.body)) {
      return finding(
        id,
        LINE,
        'fail',
        index === 0
          ? 'The base path answers with a directory listing: every file under it can be found and read.'
          : `The origin's root (${res.path}) answers with a directory listing: every file under it can be found and read.`,
        { fix, evidence: evidence(res) },
      );
    }
    if (index === 0 && root !== undefined) answers.push(await ctx.send(root('/')));
  }
  return finding(
    id,
    LINE,
    'pass',
    root === undefined
      ? `The base path answers no directory listing (${ctx.home.status}).`
      : `Neither the base path (${ctx.home.status}) nor the origin's root (${answers[1]!.status}) answers a directory listing.`,
  );
}
