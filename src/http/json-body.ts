import { isUtf8 } from 'node:buffer';
import type { FastifyInstance } from 'fastify';
import sjson from 'secure-json-parse';
import { AppError } from '../errors.js';

/**
 * Rejects bodies nested deeper than `maxDepth`; returns the number of object members in `value`.
 * Iterative on purpose: a recursive walk is itself the stack overflow a hostile `[[[[...` body
 * is trying to cause.
 */
export function assertJsonDepth(value: unknown, maxDepth: number): number {
  const stack: [unknown, number][] = [[value, 1]];
  let members = 0;
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (typeof node !== 'object' || node === null) continue;
    if (depth > maxDepth) {
      throw new AppError('json_too_deep', `JSON bodies may nest at most ${maxDepth} levels.`);
    }
    const children = Array.isArray(node) ? node : Object.values(node);
    if (!Array.isArray(node)) members += children.length;
    for (const child of children) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
    }
  }
  return members;
}

/** Cheap pre-scan so that a deeply nested body never reaches the parser. */
function nestingExceeds(text: string, maxDepth: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > maxDepth) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

/**
 * False only when no key of the text can be `__proto__` or `constructor`: such a key is either
 * spelt out or hides behind a `\u` escape. The scan of the parsed value is skipped then, as
 * secure-json-parse itself does with its own text pre-check.
 */
function mayHidePoisonedKey(text: string): boolean {
  return text.includes('__proto__') || text.includes('constructor') || text.includes('\\u');
}

/**
 * The number of object members (key-value pairs) written in `text`, valid JSON. JSON.parse keeps
 * only the last of two equal keys, silently, so a parsed value with fewer members than its text
 * had a repeated key; a proxy, WAF or logger that keeps the first sees another request than the
 * one served. Counting is a fraction of the parse's cost, where comparing keys was not.
 * @see https://www.rfc-editor.org/rfc/rfc7493#section-2.3
 */
function membersInText(text: string): number {
  // One entry per open object (true) or array (false).
  const inObject: boolean[] = [];
  let atKey = false;
  let members = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      for (i++; text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c) i++;
      if (atKey) members++;
      atKey = false;
    } else if (c === 0x7b || c === 0x5b) {
      inObject.push(c === 0x7b);
      atKey = c === 0x7b;
    } else if (c === 0x7d || c === 0x5d) {
      inObject.pop();
      atKey = false;
    } else if (c === 0x2c) {
      atKey = inObject[inObject.length - 1] === true;
    }
  }
  return members;
}

const JSON_MEDIA_TYPE = /^application\/json\s*(;\s*charset\s*=\s*"?utf-8"?\s*)?$/i;

/**
 * Makes JSON the only body the API parses. Every other media type (XML, forms, multipart, text)
 * is refused with 415 before anything reads it, so no XML parser can ever be reached.
 * `__proto__` and `constructor.prototype` keys are refused, not stripped: a client sending them
 * is attacking, and silently "fixing" the body would hide that.
 */
export function jsonOnly(app: FastifyInstance, maxDepth: number): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    const contentType = request.headers['content-type'] ?? '';
    if (!JSON_MEDIA_TYPE.test(contentType)) {
      done(
        new AppError('unsupported_media_type', 'Send JSON as application/json in UTF-8.'),
        undefined,
      );
      return;
    }
    const bytes = body as Buffer;
    // RFC 8259 §8.1: JSON text is UTF-8. Decoding would silently turn invalid bytes into U+FFFD,
    // so that different bodies read as the same text; refuse them instead. isUtf8 is a SIMD
    // validation pass (simdutf), far cheaper than the parse that follows.
    if (!isUtf8(bytes)) {
      done(
        new AppError('invalid_json', 'The request body is not valid UTF-8; send JSON in UTF-8.'),
        undefined,
      );
      return;
    }
    const text = bytes.toString('utf8');
    if (text.trim() === '') {
      done(
        new AppError('invalid_json', 'The request body is empty; send a JSON document.'),
        undefined,
      );
      return;
    }
    if (nestingExceeds(text, maxDepth)) {
      done(
        new AppError('json_too_deep', `JSON bodies may nest at most ${maxDepth} levels.`),
        undefined,
      );
      return;
    }
    // Two steps, so the failure is classified by where it came from, never by its message (V8's
    // SyntaxError quotes the input, so a typo like `prototype` once read as an attack).
    let parsed: unknown;
    try {
      parsed = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
    } catch {
      // Not kept as the cause: V8's message quotes the text around the error, and that text can
      // be a password (single-quoted or unquoted) that the log of the rejection would then hold.
      done(new AppError('invalid_json', 'The request body is not valid JSON.'), undefined);
      return;
    }
    if (mayHidePoisonedKey(text) && typeof parsed === 'object' && parsed !== null) {
      try {
        sjson.scan(parsed, { protoAction: 'error', constructorAction: 'error' });
      } catch (error) {
        done(
          new AppError(
            'forbidden_json_key',
            'JSON keys "__proto__" and "constructor.prototype" are not accepted.',
            { cause: error },
          ),
          undefined,
        );
        return;
      }
    }
    let members: number;
    try {
      members = assertJsonDepth(parsed, maxDepth);
    } catch (error) {
      done(error as Error, undefined);
      return;
    }
    if (members !== membersInText(text)) {
      done(
        new AppError('invalid_json', 'A JSON object in the request body names the same key twice.'),
        undefined,
      );
      return;
    }
    done(null, parsed);
  });
}
