import type { InjectOptions } from 'fastify';
import { secret } from './hostile-jwt-inputs.js';

/*
 * Hostile requests for the tools fuzz (test/tools/tools-fuzz.test.ts), derived from a route's
 * body schema or built around it: broken properties and body shapes, Host, Origin and media-type
 * attacks, and hostile query strings. Fixed lists: a failure names what to replay.
 */

/** The host the tools server is built for in the fuzz. */
export const HOST = '127.0.0.1:4000';

export type Schema = Record<string, unknown>;

export interface Variant {
  label: string;
  method?: InjectOptions['method'];
  url: string;
  /** A value sent as JSON, or raw text / bytes as they are. */
  body?: unknown;
  raw?: string | Buffer;
  headers?: Record<string, string | string[]>;
  /** Headers to leave out of the base set. */
  omit?: string[];
}

/** Wrong-typed, oversized and malformed values for one property of a TypeBox body schema. */
export function propertyMutations(schema: Schema): [string, unknown][] {
  const maxLength = schema.maxLength as number | undefined;
  const out: [string, unknown][] = [
    ['null', null],
    ['an object', { $ne: null }],
    ['an array', ['a']],
    ['a boolean', true],
  ];
  if (schema.type === 'string') {
    out.push(
      ['a number', 12345],
      ['empty', ''],
      ['300 000 characters', 'x'.repeat(300_000)],
      ['control characters', `a\u0001\u001b[31m\r\nb`],
      ['a lone surrogate', 'a\ud800b'],
      ['a NUL', 'a\u0000b'],
    );
    if (maxLength !== undefined)
      out.push([`maxLength+1 (${maxLength + 1})`, 'x'.repeat(maxLength + 1)]);
  } else if (schema.type === 'integer') {
    out.push(
      ['a string', '10'],
      ['"NaN"', 'NaN'],
      ['-1', -1],
      ['fractional', 1.5],
      ['1e308', 1e308],
      ['above its maximum', (schema.maximum as number) + 1],
    );
  } else {
    out.push(['a number', 1], ['an unknown string', 'private_key_jwt']);
  }
  return out;
}

/** Body variants of a route from its schema: each property broken alone, then the body's shape. */
export function bodyVariants(
  url: string,
  schema: Schema,
  valid: Record<string, unknown>,
): Variant[] {
  const out: Variant[] = [];
  const properties = schema.properties as Record<string, Schema>;
  for (const [name, sub] of Object.entries(properties)) {
    for (const [label, value] of propertyMutations(sub)) {
      out.push({ label: `${name}: ${label}`, url, body: { ...valid, [name]: value } });
    }
  }
  for (const name of schema.required as string[]) {
    const rest = { ...valid };
    delete rest[name];
    out.push({ label: `without required ${name}`, url, body: rest });
  }
  const inner = JSON.stringify(valid).slice(1, -1);
  out.push(
    { label: 'an extra property', url, body: { ...valid, admin: true } },
    { label: '__proto__', url, raw: `{${inner},"__proto__":{"x":1}}` },
    { label: 'constructor.prototype', url, raw: `{${inner},"constructor":{"prototype":{"x":1}}}` },
    { label: 'an empty object', url, raw: '{}' },
    { label: 'a top-level array', url, raw: JSON.stringify([valid]) },
    { label: 'a top-level string', url, raw: '"x"' },
    { label: 'a top-level null', url, raw: 'null' },
    { label: 'deep nesting', url, raw: '{"a":'.repeat(2000) + '1' + '}'.repeat(2000) },
    { label: 'invalid JSON around a secret', url, raw: `{${inner},"secret":'${secret()}'}` },
    { label: 'an empty body', url, raw: '' },
    {
      label: 'past the body limit',
      url,
      raw: JSON.stringify({ ...valid, pad: 'x'.repeat(600_000) }),
    },
  );
  return out;
}

/** Header and media-type attacks on one route. */
export function headerVariants(
  url: string,
  method: InjectOptions['method'],
  body?: unknown,
): Variant[] {
  const text = body === undefined ? '{"a":1}' : JSON.stringify(body);
  const out: Variant[] = [];
  for (const host of [
    'evil.example',
    'evil.example:4000',
    '127.0.0.1.evil.example',
    'localhost.evil.example:4000',
    'localhost.',
    '127.0.0.1:4000.evil.example',
    '[::1].evil.example',
    'evil.example#127.0.0.1',
    '0.0.0.0:4000',
    '[::ffff:127.0.0.1]:4000',
    '127.1:4000',
    '',
    'x'.repeat(5000),
  ]) {
    out.push({
      label: `Host ${host.slice(0, 30) || '(empty)'}`,
      method,
      url,
      headers: { host },
      ...(body === undefined ? {} : { body }),
    });
  }
  out.push(
    { label: 'two Host headers', method, url, headers: { host: [HOST, 'evil.example'] } },
    {
      label: 'a foreign Origin',
      method,
      url,
      headers: { origin: 'https://evil.example' },
      ...(body === undefined ? {} : { body }),
    },
    {
      label: 'Origin null',
      method,
      url,
      headers: { origin: 'null' },
      ...(body === undefined ? {} : { body }),
    },
    { label: 'Accept application/xml', method, url, headers: { accept: 'application/xml' } },
    {
      label: 'OPTIONS preflight from a foreign origin',
      method: 'OPTIONS',
      url,
      headers: {
        origin: 'https://evil.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type',
      },
    },
    { label: 'DELETE', method: 'DELETE', url },
    { label: 'PUT with JSON', method: 'PUT', url, raw: text },
  );
  if (method === 'POST') {
    out.push(
      { label: 'text/plain', method, url, raw: text, headers: { 'content-type': 'text/plain' } },
      {
        label: 'a form',
        method,
        url,
        raw: 'token=a.b.c',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      },
      {
        label: 'multipart',
        method,
        url,
        raw: '--x\r\nContent-Disposition: form-data; name="token"\r\n\r\na.b.c\r\n--x--\r\n',
        headers: { 'content-type': 'multipart/form-data; boundary=x' },
      },
      {
        label: 'JSON in UTF-16',
        method,
        url,
        raw: Buffer.from(text, 'utf16le'),
        headers: { 'content-type': 'application/json; charset=utf-16' },
      },
      { label: 'JSON in UTF-16 labelled UTF-8', method, url, raw: Buffer.from(text, 'utf16le') },
      { label: 'no content type', method, url, raw: text, omit: ['content-type'] },
      {
        label: 'gzip on plain bytes',
        method,
        url,
        raw: text,
        headers: { 'content-encoding': 'gzip' },
      },
      {
        label: 'two content types',
        method,
        url,
        raw: text,
        headers: { 'content-type': ['application/json', 'text/plain'] },
      },
      {
        label: 'application/json with a parameter',
        method,
        url,
        raw: text,
        headers: { 'content-type': 'application/json; charset=latin1' },
      },
      { label: 'invalid UTF-8', method, url, raw: Buffer.from([0x7b, 0xff, 0x7d]) },
      { label: 'a BOM', method, url, raw: `\ufeff${text}` },
    );
  }
  return out;
}

export const QUERIES = [
  '%',
  '%zz',
  'a=%ED%A0%80',
  'a=%00',
  '__proto__[x]=1',
  'constructor[prototype][x]=1',
  'a[]=1&a[]=2',
  `a=${'x'.repeat(10_000)}`,
  Array.from({ length: 30 }, (_, i) => `k${i}=v`).join('&'),
  'a=<script>alert(1)</script>',
];
