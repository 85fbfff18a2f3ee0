import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BulwarkApp } from '../../src/app.js';
import { buildTestApp } from '../helpers/app.js';
import {
  bearer,
  createUserAndLogin,
  jwtPayload,
  login,
  registerAndLogin,
  STRONG_PASSWORD,
  uniqueEmail,
  type LoggedIn,
} from '../helpers/identity.js';
import { expectNoLeak } from '../helpers/leaks.js';
import { oidcFixture, type OidcFixture } from '../oidc/support.js';

/*
 * Every operation of the service's own OpenAPI document, attacked with a deterministic, bounded
 * set of hostile path parameters, query strings, bodies (derived from the operation's body
 * schema) and headers, as an anonymous caller, a normal user and an admin. Whatever arrives,
 * the answer is a success or a clean problem document: never a 5xx, never a library message,
 * stack, hash or key, never a submitted password, and the service keeps working afterwards.
 * The variants are fixed lists (no randomness), so a failure names exactly what to replay.
 */

type Schema = Record<string, unknown>;
type Who = 'anonymous' | 'user' | 'admin';

interface Parameter {
  name: string;
  in: 'path' | 'query';
  schema: Schema;
}

interface Operation {
  method: string;
  /** The OpenAPI path template, e.g. /api/v1/users/{id}. */
  template: string;
  parameters: Parameter[];
  body: Schema | undefined;
  secured: boolean;
}

interface Variant {
  label: string;
  /** Path parameter values, already in URL form (percent-encoded where meant). */
  path?: Record<string, string>;
  /** The raw query string without `?`, or undefined for the base query. */
  query?: string;
  /** The raw body text (or bytes) sent; undefined for the base body. */
  payload?: string | Buffer;
  headers?: Record<string, string | string[]>;
  /** Headers to leave out of the base set (e.g. content-type). */
  omit?: string[];
  /** Send to /api/... instead of /api/v1/... (API-Version routing). */
  unversioned?: boolean;
}

interface Failure {
  where: string;
  status: number;
  problem: string;
  body: string;
}

// Every password this file submits carries this marker, so a response or a log line that shows
// one (or a piece of one long enough to hold the marker) is found by a plain search.
const PASSWORD_MARKER = 'PwFuzz';
let passwordCount = 0;
const markedPassword = (rest = ''): string =>
  `${PASSWORD_MARKER}${String(++passwordCount).padStart(5, '0')} ${STRONG_PASSWORD}${rest}`;
const isPasswordField = (name: string): boolean => /password/i.test(name);
let sampleCount = 0;

// Operations the suite's example routes add (test/helpers/app.ts): they fail on purpose (crash,
// status/:status) and are not the service.
const isExampleRoute = (template: string): boolean => template.startsWith('/api/v1/examples');

// Which operations the document must list: the fuzz must never pass by testing nothing.
const EXPECTED_OPERATIONS = [
  'GET /health/live',
  'GET /health/ready',
  'GET /.well-known/jwks.json',
  'POST /api/v1/auth/register',
  'POST /api/v1/auth/login',
  'POST /api/v1/auth/refresh',
  'POST /api/v1/auth/logout',
  'POST /api/v1/auth/logout-all',
  'GET /api/v1/auth/sessions',
  'DELETE /api/v1/auth/sessions/{id}',
  'POST /api/v1/auth/password',
  'GET /api/v1/users/me',
  'PATCH /api/v1/users/me',
  'GET /api/v1/users',
  'POST /api/v1/users',
  'GET /api/v1/users/{id}',
  'PATCH /api/v1/users/{id}',
  'DELETE /api/v1/users/{id}',
  'GET /api/v1/admin/audit-events',
  'GET /api/v1/auth/oidc/{provider}',
  'GET /api/v1/auth/oidc/{provider}/callback',
  'POST /api/v1/auth/oidc/exchange',
  'GET /api/v1/users/me/identities',
  'DELETE /api/v1/users/me/identities/{id}',
  'POST /api/v1/auth/password/forgot',
  'POST /api/v1/auth/password/reset',
  'POST /api/v1/auth/email/verify',
  'POST /api/v1/auth/email/verification',
  'POST /api/v1/auth/email/change',
  'POST /api/v1/auth/email/change/confirm',
  'POST /api/v1/users/{id}/password-reset',
];

const JSON_TYPE = { 'content-type': 'application/json' };
const UNKNOWN_UUID = '7b0d3d1c-4c61-4c7e-9a53-0d6f3c2f9b11';

interface OpenApiDocument {
  paths: Record<string, Record<string, Record<string, unknown>>>;
  components?: { schemas?: Record<string, Schema> };
}

/** The document's operations; a body schema given as a `$ref` is looked up in its components. */
function readOperations(doc: OpenApiDocument): Operation[] {
  const resolve = (schema: Schema | undefined): Schema | undefined => {
    const ref = schema?.$ref;
    if (typeof ref !== 'string') return schema;
    return doc.components?.schemas?.[ref.replace('#/components/schemas/', '')];
  };
  const operations: Operation[] = [];
  for (const [template, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const requestBody = op.requestBody as
        { content?: Record<string, { schema: Schema }> } | undefined;
      const content = requestBody?.content;
      operations.push({
        method: method.toUpperCase(),
        template,
        parameters: ((op.parameters as Parameter[] | undefined) ?? []).filter(
          (p) => p.in === 'path' || p.in === 'query',
        ),
        body: resolve(content?.['application/json']?.schema),
        secured: Array.isArray(op.security) && op.security.length > 0,
      });
    }
  }
  return operations;
}

const typeOf = (schema: Schema): string | undefined => {
  if (typeof schema.type === 'string') return schema.type;
  const branches = schema.anyOf as Schema[] | undefined;
  return branches?.[0] === undefined ? undefined : typeOf(branches[0]);
};
const firstBranch = (schema: Schema): Schema =>
  Array.isArray(schema.anyOf) ? (schema.anyOf[0] as Schema) : schema;

/** A value the schema accepts, chosen by the property name where the schema alone cannot tell. */
function sampleValue(name: string, schema: Schema, ids: Record<string, string>): unknown {
  const branch = firstBranch(schema);
  if (Array.isArray(branch.enum)) return branch.enum[0];
  switch (typeOf(branch)) {
    case 'integer':
    case 'number':
      return branch.minimum ?? 1;
    case 'boolean':
      return false;
    case 'string':
      break;
    default:
      return {};
  }
  if (isPasswordField(name)) return markedPassword();
  // Numbered, not random: a run replays exactly (each run has a database of its own).
  if (name === 'email') return `sample-${String(++sampleCount).padStart(4, '0')}@example.com`;
  if (branch.format === 'uuid') return ids[name] ?? UNKNOWN_UUID;
  if (branch.format === 'date-time') return '2024-01-01T00:00:00.000Z';
  if (name === 'role') return 'user';
  if (name === 'phone') return '+15550100';
  if (name === 'provider') return 'test';
  if (name === 'refreshToken') return `bwr_${'A'.repeat(43)}`;
  if (name === 'code' && branch.maxLength === 43) return 'A'.repeat(43);
  if (name === 'cursor') return 'abc';
  return 'Sample Value';
}

function sampleBody(schema: Schema, ids: Record<string, string>): Record<string, unknown> {
  const properties = (schema.properties ?? {}) as Record<string, Schema>;
  return Object.fromEntries(
    Object.entries(properties).map(([name, sub]) => [name, sampleValue(name, sub, ids)]),
  );
}

/** Wrong-typed, oversized and malformed values for one body property. */
function propertyMutations(name: string, schema: Schema): [string, unknown][] {
  const type = typeOf(schema);
  const maxLength = firstBranch(schema).maxLength as number | undefined;
  // Passwords carry the marker even when malformed, so an echo of one is still found.
  const text = (s: string): string => (isPasswordField(name) ? markedPassword(s) : s);
  const long = (n: number): string => {
    const head = text('');
    return head + 'x'.repeat(Math.max(0, n - head.length));
  };
  const out: [string, unknown][] = [
    ['the wrong type', type === 'string' ? 12345 : type === 'boolean' ? 'true' : 'x'],
    ['null', null],
    ['an object', { $ne: null }],
    ['an array', [text('a')]],
    ['100 000 characters', long(100_000)],
    ['control characters', text('a\u0001\u001b[31mb')],
    ['a lone surrogate', text('a\ud800b')],
    ['a NUL', text('a\u0000b')],
    ['an emoji and NFD text', text('😀 e\u0301')],
  ];
  if (maxLength !== undefined) out.push([`maxLength+1 (${maxLength + 1})`, long(maxLength + 1)]);
  return out;
}

function bodyVariants(schema: Schema, base: Record<string, unknown>): Variant[] {
  const json = (value: unknown): Variant['payload'] => JSON.stringify(value);
  const out: Variant[] = [];
  const properties = (schema.properties ?? {}) as Record<string, Schema>;
  for (const [name, sub] of Object.entries(properties)) {
    for (const [label, value] of propertyMutations(name, sub)) {
      out.push({ label: `body.${name}: ${label}`, payload: json({ ...base, [name]: value }) });
    }
  }
  for (const name of (schema.required as string[] | undefined) ?? []) {
    const rest = { ...base };
    delete rest[name];
    out.push({ label: `body without required ${name}`, payload: json(rest) });
  }
  const inner = JSON.stringify(base).slice(1, -1);
  const sep = inner === '' ? '' : ',';
  const password = markedPassword();
  out.push(
    { label: 'body with an extra property', payload: json({ ...base, isAdmin: true }) },
    { label: 'body with __proto__', payload: `{${inner}${sep}"__proto__":{"role":"admin"}}` },
    {
      label: 'body with constructor.prototype',
      payload: `{${inner}${sep}"constructor":{"prototype":{"role":"admin"}}}`,
    },
    { label: 'an empty object', payload: '{}' },
    { label: 'a top-level array', payload: json([base]) },
    { label: 'a top-level string', payload: '"fuzz"' },
    { label: 'a top-level number', payload: '42' },
    { label: 'a top-level null', payload: 'null' },
    { label: '5 000 levels of nesting', payload: '{"a":'.repeat(5000) + '1' + '}'.repeat(5000) },
    { label: 'invalid JSON', payload: `{${inner}${sep}` },
    // V8's SyntaxError quotes the text around the error: a password next to it must not travel
    // on into a log line.
    {
      label: 'invalid JSON around a single-quoted password',
      payload: `{${inner}${sep}"password":'${password}'}`,
    },
    { label: 'an empty body with content-type json', payload: '' },
  );
  return out;
}

function noBodyVariants(): Variant[] {
  return [
    { label: 'a JSON body where none is expected', payload: '{"a":1}', headers: JSON_TYPE },
    {
      label: 'a text body where none is expected',
      payload: 'x',
      headers: { 'content-type': 'text/plain' },
    },
  ];
}

function queryVariants(op: Operation): Variant[] {
  const declared = op.parameters.filter((p) => p.in === 'query');
  const name = declared[0]?.name ?? 'q';
  const out: Variant[] = [
    { label: 'an unknown query key', query: 'zzz=1' },
    { label: 'query __proto__[x]=1', query: '__proto__[x]=1' },
    { label: 'query constructor[prototype][x]=1', query: 'constructor[prototype][x]=1' },
    { label: 'query %zz', query: `${name}=%zz` },
    { label: 'query lone %', query: `${name}=%` },
    { label: 'a query key of %', query: '%' },
    { label: 'query key[]', query: `${name}[]=1&${name}[]=2` },
    { label: 'query key[a]', query: `${name}[a]=1` },
  ];
  for (const p of declared) {
    const type = typeOf(p.schema);
    out.push(
      { label: `query ${p.name} repeated`, query: `${p.name}=1&${p.name}=2` },
      { label: `query ${p.name} empty`, query: `${p.name}=` },
      { label: `query ${p.name} 10 000 characters`, query: `${p.name}=${'x'.repeat(10_000)}` },
      {
        label: `query ${p.name} of the wrong type`,
        query: `${p.name}=${type === 'integer' || type === 'number' ? 'abc' : 'true'}`,
      },
      { label: `query ${p.name} with a NUL`, query: `${p.name}=a%00b` },
      { label: `query ${p.name} with a lone surrogate`, query: `${p.name}=a%ED%A0%80b` },
    );
    if (type === 'integer') {
      out.push(
        { label: `query ${p.name}=1e3`, query: `${p.name}=1e3` },
        { label: `query ${p.name}=-1`, query: `${p.name}=-1` },
        { label: `query ${p.name} huge`, query: `${p.name}=${'9'.repeat(400)}` },
      );
    }
  }
  return out;
}

function pathVariants(op: Operation, valid: Record<string, string>): Variant[] {
  const out: Variant[] = [];
  for (const p of op.parameters.filter((param) => param.in === 'path')) {
    const good = valid[p.name] ?? UNKNOWN_UUID;
    const values: [string, string][] = [
      ['not a UUID', 'not-a-uuid'],
      ['5 000 characters', 'a'.repeat(5000)],
      ['%00', '%00'],
      ['an encoded slash', 'a%2Fb'],
      ['..', '..'],
      ['%2e%2e', '%2e%2e'],
      ['overlong UTF-8', '%C0%AF'],
      ['invalid percent-encoding', '%zz'],
      ['an emoji', encodeURIComponent('😀')],
      ['upper case', good.toUpperCase()],
      ['braces', encodeURIComponent(`{${good}}`)],
      ['urn:uuid:', `urn:uuid:${good}`],
    ];
    for (const [label, value] of values) {
      out.push({ label: `path ${p.name}: ${label}`, path: { [p.name]: value } });
    }
  }
  return out;
}

function headerVariants(op: Operation, baseText: string | undefined, user: LoggedIn): Variant[] {
  const body = baseText ?? '{"a":1}';
  const [header, payload] = user.accessToken.split('.') as [string, string, string];
  const decoded = JSON.parse(Buffer.from(header, 'base64url').toString()) as Schema;
  const none = `${Buffer.from(JSON.stringify({ ...decoded, alg: 'none' })).toString('base64url')}.${payload}.`;
  const out: Variant[] = [
    { label: 'content-type text/plain', payload: body, headers: { 'content-type': 'text/plain' } },
    {
      label: 'content-type json in UTF-16',
      payload: Buffer.from(body, 'utf16le'),
      headers: { 'content-type': 'application/json; charset=utf-16' },
    },
    {
      label: 'content-type multipart/form-data',
      payload: '--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--x--\r\n',
      headers: { 'content-type': 'multipart/form-data; boundary=x' },
    },
    {
      label: 'content-type form-urlencoded',
      payload: 'email=a%40b.c&password=x',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    },
    { label: 'no content-type', payload: body, omit: ['content-type'] },
    {
      label: 'Content-Encoding gzip on plain bytes',
      payload: body,
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
    },
    {
      label: 'a 10 000-character bearer',
      headers: { authorization: `Bearer ${'A'.repeat(10_000)}` },
    },
    { label: 'Basic credentials', headers: { authorization: 'Basic dXNlcjpwYXNzd29yZA==' } },
    { label: 'a malformed JWT', headers: { authorization: 'Bearer abc.def.ghi' } },
    { label: 'a JWT with alg none', headers: { authorization: `Bearer ${none}` } },
    { label: 'an empty bearer', headers: { authorization: 'Bearer ' } },
    {
      label: 'two Authorization headers',
      headers: { authorization: [`Bearer ${user.accessToken}`, 'Bearer abc.def.ghi'] },
    },
    {
      label: 'two Content-Type headers',
      headers: { 'content-type': ['application/json', 'text/plain'] },
    },
    {
      label: 'a hostile X-Request-Id',
      headers: { 'x-request-id': '<script>"x"</script>'.repeat(10) },
    },
    { label: 'a foreign Host', headers: { host: 'evil.example:99999' } },
    {
      label: 'a forged X-Forwarded-For',
      headers: { 'x-forwarded-for': 'not an ip, ::1, 999.1.1.1' },
    },
    { label: 'Accept: application/xml', headers: { accept: 'application/xml' } },
    { label: 'Accept: */*;q=0, garbage', headers: { accept: '*/*;q=0, ;;;, text/html;level=x' } },
  ];
  if (op.template.startsWith('/api/v1/')) {
    out.push(
      { label: 'API-Version 999 on /api', unversioned: true, headers: { 'api-version': '999' } },
      {
        label: 'API-Version garbage on /api',
        unversioned: true,
        headers: { 'api-version': 'v1; drop' },
      },
      { label: 'no API-Version on /api', unversioned: true },
    );
  }
  return out;
}

/** Fills a path template; `raw` values are already in URL form, the others are encoded. */
function fillPath(
  template: string,
  raw: Record<string, string>,
  valid: Record<string, string>,
): string {
  return template.replace(
    /\{(\w+)\}/g,
    (_all, name: string) => raw[name] ?? encodeURIComponent(valid[name] ?? UNKNOWN_UUID),
  );
}

function baseQuery(op: Operation): string {
  return op.parameters
    .filter((p) => p.in === 'query' && p.name === 'limit')
    .map(() => 'limit=5')
    .join('&');
}

let fx: OidcFixture;
let app: BulwarkApp;
let operations: Operation[];
let user: LoggedIn;
let admin: LoggedIn;
let requests = 0;
const slowest = { ms: 0, where: '' };
const failures: Failure[] = [];

/** Checks one answer against the contract; records what is wrong instead of stopping. */
function check(where: string, res: LightMyRequestResponse, bodyless = false): void {
  requests++;
  const fail = (problem: string): void => {
    failures.push({ where, status: res.statusCode, problem, body: res.body.slice(0, 300) });
  };
  if (res.statusCode >= 500) fail('a 5xx');
  if (res.statusCode >= 400) {
    const type = String(res.headers['content-type'] ?? '');
    if (!type.startsWith('application/problem+json')) fail(`content-type ${type}`);
    if (bodyless) return; // HEAD: the headers of the problem, without its body
    let body: Record<string, unknown> | undefined;
    try {
      body = JSON.parse(res.body) as Record<string, unknown>;
    } catch {
      fail('a body that is not JSON');
    }
    if (body !== undefined) {
      if (typeof body.code !== 'string') fail('no code');
      if (typeof body.requestId !== 'string' || body.requestId !== res.headers['x-request-id']) {
        fail('no requestId');
      }
    }
  }
  try {
    expectNoLeak(res.body, { credentials: res.statusCode >= 400 });
  } catch (error) {
    fail(`a leak: ${(error as Error).message.split('\n')[0]}`);
  }
  if (res.body.includes(PASSWORD_MARKER)) fail('a submitted password echoed');
}

async function send(
  op: Operation,
  who: Who,
  variant: Variant,
  ids: Record<string, string>,
  base: { text: string | undefined; token: string | undefined },
): Promise<void> {
  let url = fillPath(op.template, variant.path ?? {}, ids);
  if (variant.unversioned) url = url.replace(/^\/api\/v1/, '/api');
  const query = variant.query ?? baseQuery(op);
  if (query !== '') url += `?${query}`;
  const payload = variant.payload ?? base.text;
  const headers: Record<string, string | string[]> = {
    ...(base.token === undefined ? {} : bearer(base.token)),
    ...(payload === undefined ? {} : JSON_TYPE),
    ...variant.headers,
  };
  for (const name of variant.omit ?? []) delete headers[name];
  const options: InjectOptions = {
    method: op.method as InjectOptions['method'],
    url,
    headers,
    ...(payload === undefined ? {} : { payload }),
  };
  const before = performance.now();
  const res = await app.inject(options);
  const where = `${who} ${op.method} ${op.template} [${variant.label}]`;
  const took = performance.now() - before;
  if (took > slowest.ms) Object.assign(slowest, { ms: took, where });
  check(where, res);
}

beforeAll(async () => {
  // Account e-mails on (written to a temporary outbox), so their routes are fuzzed too.
  fx = await oidcFixture(
    [],
    {},
    {
      email: {
        outboxDir: mkdtempSync(join(tmpdir(), 'bulwark-fuzz-outbox-')),
        passwordResetUrl: 'https://app.example.com/reset-password',
        verifyEmailUrl: 'https://app.example.com/verify-email',
        changeEmailUrl: 'https://app.example.com/change-email',
      },
    },
  );
  app = fx.app;
  user = await registerAndLogin(app);
  admin = await createUserAndLogin(app, 'admin');
  const res = await app.inject({ method: 'GET', url: '/openapi.json' });
  expect(res.statusCode).toBe(200);
  operations = readOperations(res.json<OpenApiDocument>()).filter(
    (op) => !isExampleRoute(op.template),
  );
});
afterAll(async () => {
  await fx.close();
});

describe('route fuzz over the OpenAPI document', () => {
  it('finds every operation of the service in the document', () => {
    const listed = operations.map((op) => `${op.method} ${op.template}`);
    expect(listed).toEqual(expect.arrayContaining(EXPECTED_OPERATIONS));
    expect(operations.filter((op) => op.body !== undefined).length).toBeGreaterThanOrEqual(8);
  });

  it('answers every hostile variant of every operation with a success or a clean problem', async () => {
    const started = Date.now();
    for (const op of operations) {
      // A user to aim at per operation: a DELETE or PATCH that succeeds (an upper-case id is
      // still the id) must not take the caller or the next operation's target with it.
      const victim = await app.services.users.create(
        { email: uniqueEmail('victim'), password: STRONG_PASSWORD, name: 'Victim', role: 'user' },
        {},
      );
      const ids: Record<string, string> = {
        id: op.template.startsWith('/api/v1/users/') ? victim.id : UNKNOWN_UUID,
        userId: victim.id,
        provider: 'test',
      };
      const base = op.body === undefined ? undefined : sampleBody(op.body, ids);
      const baseText = base === undefined ? undefined : JSON.stringify(base);
      const all: Variant[] = [
        // First, while the target still exists (a later variant may delete it).
        { label: 'the base request' },
        ...pathVariants(op, ids),
        ...queryVariants(op),
        ...(op.body === undefined || base === undefined
          ? noBodyVariants()
          : bodyVariants(op.body, base)),
      ];
      const whoAll: Who[] = op.secured
        ? /^\/api\/v1\/(users|admin)/.test(op.template)
          ? ['user', 'admin']
          : ['user']
        : ['anonymous'];
      // Header attacks (tokens, media types, versions) as a stranger and as a signed-in user.
      const whoHeaders: Who[] = ['anonymous', 'user'];
      for (const who of new Set<Who>([...whoAll, ...whoHeaders])) {
        // A fresh session per caller and operation: logout, logout-all or a password change
        // ends the previous one, and every variant should meet a live token.
        const session =
          who === 'user'
            ? await login(app, user.email)
            : who === 'admin'
              ? await login(app, admin.email)
              : undefined;
        const context = { text: baseText, token: session?.accessToken };
        const variants = [
          ...(whoAll.includes(who) ? all : []),
          ...(whoHeaders.includes(who) ? headerVariants(op, baseText, user) : []),
        ];
        for (const variant of variants) await send(op, who, variant, ids, context);
      }
    }
    const seconds = (Date.now() - started) / 1000;
    console.info(
      `route fuzz: ${requests} requests over ${operations.length} operations in ${seconds.toFixed(1)} s; slowest ${slowest.ms.toFixed(0)} ms: ${slowest.where}`,
    );
    expect(requests).toBeGreaterThan(500);
    expect(failures).toEqual([]);
  }, 120_000);

  it('answers HEAD and CORS preflights of every path cleanly', async () => {
    const before = failures.length;
    const ids = { id: UNKNOWN_UUID, provider: 'test' };
    for (const template of new Set(operations.map((op) => op.template))) {
      const url = fillPath(template, {}, ids);
      const methods = operations.filter((op) => op.template === template).map((op) => op.method);
      for (const [label, headers] of [
        [
          'a preflight from a foreign origin',
          {
            origin: 'https://evil.example',
            'access-control-request-method': methods[0]!,
            'access-control-request-headers': 'authorization, content-type, x-evil',
          },
        ],
        ['a preflight without an origin', { 'access-control-request-method': 'DELETE' }],
        ['OPTIONS with a null origin', { origin: 'null' }],
      ] as const) {
        const res = await app.inject({ method: 'OPTIONS', url, headers });
        check(`anonymous OPTIONS ${template} [${label}]`, res, res.body === '');
      }
      if (methods.includes('GET')) {
        for (const query of ['', '?zzz=1', '?%']) {
          const res = await app.inject({ method: 'HEAD', url: `${url}${query}` });
          check(`anonymous HEAD ${template} [query ${query || 'none'}]`, res, true);
        }
      }
    }
    expect(failures.slice(before)).toEqual([]);
  });

  it('leaves no submitted password and no stack of a 4xx in the logs', () => {
    const statusOf = new Map<string, number>();
    for (const line of fx.logs.lines) {
      if (line.msg === 'request completed' && typeof line.requestId === 'string') {
        statusOf.set(line.requestId, line.status as number);
      }
    }
    const withPassword = fx.logs.raw.filter((line) => line.includes(PASSWORD_MARKER));
    expect(withPassword.map((line) => line.slice(0, 400))).toEqual([]);
    const stacks = fx.logs.lines.filter((line) => {
      const err = line.err as { stack?: unknown } | undefined;
      if (err?.stack === undefined) return false;
      const status = statusOf.get(line.requestId as string);
      return status === undefined || status < 500;
    });
    expect(
      stacks.map((line) => `${String(line.msg)}: ${JSON.stringify(line.err).slice(0, 200)}`),
    ).toEqual([]);
  });

  it('keeps serving: health answers 200 and a normal login still works', async () => {
    expect((await app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
    const ready = await app.inject({ method: 'GET', url: '/health/ready' });
    expect(ready.statusCode, ready.body).toBe(200);
    const session = await login(app, user.email);
    expect(jwtPayload(session.accessToken).sub).toBe(user.id);
    const me = await app.inject({
      method: 'GET',
      url: '/api/v1/users/me',
      headers: bearer(session.accessToken),
    });
    expect(me.statusCode).toBe(200);
  });
});

describe('rate limiting under the fuzz', () => {
  it('answers a 429 as a problem document too', async () => {
    const t = await buildTestApp({ rateLimit: { general: { points: 2, durationSeconds: 60 } } });
    try {
      const attempts: LightMyRequestResponse[] = [];
      for (let i = 0; i < 3; i++) {
        attempts.push(
          await t.app.inject({
            method: 'POST',
            url: '/api/v1/auth/login',
            headers: JSON_TYPE,
            payload: '{"email":"nobody@example.com","password":',
          }),
        );
      }
      const limited = attempts.at(-1)!;
      expect(limited.statusCode).toBe(429);
      expect(limited.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(limited.json()).toMatchObject({
        code: 'rate_limited',
        requestId: limited.headers['x-request-id'],
      });
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
      expectNoLeak(limited.body, { credentials: true });
    } finally {
      await t.app.close();
    }
  });
});
