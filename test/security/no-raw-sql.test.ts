import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

/*
 * SPEC checklist line 6: all database access goes through Kysely with bound parameters; no
 * string-built SQL anywhere in src/. ESLint forbids the Kysely escape hatches (eslint.config.js);
 * this scan is the second net, and also covers raw drivers (pg's query, better-sqlite3's
 * exec/prepare/pragma) fed with a concatenated or interpolated string. A heuristic: it reads
 * text, not types, so a variable holding a built string passes; review still matters.
 */

const SRC = join(import.meta.dirname, '..', '..', 'src');

interface Finding {
  line: number;
  rule: string;
  text: string;
}

const ESCAPE_HATCHES: { rule: string; pattern: RegExp }[] = [
  { rule: 'sql.raw', pattern: /\bsql\s*(?:\.\s*raw|\[\s*['"`]raw['"`]\s*\])\s*\(/g },
  { rule: 'sql.lit', pattern: /\bsql\s*(?:\.\s*lit|\[\s*['"`]lit['"`]\s*\])\s*\(/g },
  { rule: 'CompiledQuery.raw', pattern: /\bCompiledQuery\s*\.\s*raw\s*\(/g },
  { rule: '.unsafe', pattern: /\.\s*unsafe\s*\(/g },
];

// Methods that take SQL text on the raw drivers (and Kysely's execute, which is harmless unless
// handed a built string).
const DRIVER_CALL = /\.\s*(query|execute|exec|prepare|pragma)\s*\(/g;
// An untagged template literal with an interpolation (`sql` tagged templates bind parameters).
const UNTAGGED_INTERPOLATION = /(?<!\bsql\s*)`(?:[^`\\]|\\.)*\$\{/;
// A string or template literal joined with `+`, or String#concat.
const CONCATENATION = /['"`]\s*\+|\+\s*['"`]|\.\s*concat\s*\(/;

/** Replaces comments with spaces (keeping line breaks), leaving strings, templates and regexes. */
function stripComments(source: string): string {
  const out = source.split('');
  const blank = (from: number, to: number) => {
    for (let k = from; k < to; k++) if (out[k] !== '\n') out[k] = ' ';
  };
  // Stack of open template literals, each with the brace depth of its current `${ }`.
  const templates: number[] = [];
  let inTemplateText = false;
  let lastSignificant = '';
  let i = 0;
  while (i < source.length) {
    const c = source[i]!;
    const next = source[i + 1];
    if (inTemplateText) {
      if (c === '\\') i += 2;
      else if (c === '`') {
        templates.pop();
        inTemplateText = false;
        lastSignificant = '`';
        i++;
      } else if (c === '$' && next === '{') {
        templates[templates.length - 1] = 0;
        inTemplateText = false;
        i += 2;
      } else i++;
      continue;
    }
    if (c === '/' && next === '/') {
      const end = source.indexOf('\n', i);
      const stop = end === -1 ? source.length : end;
      blank(i, stop);
      i = stop;
    } else if (c === '/' && next === '*') {
      const end = source.indexOf('*/', i + 2);
      const stop = end === -1 ? source.length : end + 2;
      blank(i, stop);
      i = stop;
    } else if (c === "'" || c === '"') {
      i++;
      while (i < source.length && source[i] !== c && source[i] !== '\n') {
        i += source[i] === '\\' ? 2 : 1;
      }
      i++;
      lastSignificant = c;
    } else if (c === '`') {
      templates.push(0);
      inTemplateText = true;
      i++;
    } else if (
      c === '/' &&
      (lastSignificant === '' || /[(,=:[!&|?{};+\-*%<>~^]/.test(lastSignificant))
    ) {
      // A regex literal: skip it whole so quotes or slashes inside it are not misread.
      i++;
      let inClass = false;
      while (i < source.length && source[i] !== '\n') {
        const r = source[i]!;
        if (r === '\\') i++;
        else if (r === '[') inClass = true;
        else if (r === ']') inClass = false;
        else if (r === '/' && !inClass) break;
        i++;
      }
      i++;
      lastSignificant = '/';
    } else {
      if (templates.length > 0 && !inTemplateText) {
        const depth = templates[templates.length - 1]!;
        if (c === '{') templates[templates.length - 1] = depth + 1;
        else if (c === '}') {
          if (depth === 0) {
            inTemplateText = true;
            i++;
            continue;
          }
          templates[templates.length - 1] = depth - 1;
        }
      }
      if (!/\s/.test(c)) lastSignificant = c;
      i++;
    }
  }
  return out.join('');
}

/** The text between the parenthesis at `open` and its match (strings are not special-cased). */
function argumentsAt(code: string, open: number): string {
  let depth = 0;
  for (let i = open; i < code.length; i++) {
    if (code[i] === '(') depth++;
    else if (code[i] === ')' && --depth === 0) return code.slice(open + 1, i);
  }
  return code.slice(open + 1);
}

function lineOf(code: string, index: number): number {
  return code.slice(0, index).split('\n').length;
}

/** Every raw-SQL construct in one source text. */
function findRawSql(source: string): Finding[] {
  const code = stripComments(source);
  const findings: Finding[] = [];
  const lines = source.split('\n');
  const add = (index: number, rule: string) => {
    const line = lineOf(code, index);
    findings.push({ line, rule, text: (lines[line - 1] ?? '').trim() });
  };
  for (const { rule, pattern } of ESCAPE_HATCHES) {
    for (const match of code.matchAll(pattern)) add(match.index, rule);
  }
  for (const match of code.matchAll(DRIVER_CALL)) {
    const args = argumentsAt(code, match.index + match[0].length - 1);
    if (UNTAGGED_INTERPOLATION.test(args)) add(match.index, `.${match[1]} with interpolation`);
    else if (CONCATENATION.test(args)) add(match.index, `.${match[1]} with concatenation`);
  }
  return findings;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.ts'))
    .map((name) => join(dir, name));
}

describe('no string-built SQL in src/', () => {
  it('finds none', () => {
    const files = sourceFiles(SRC);
    expect(files.map((f) => relative(SRC, f))).toContain(join('db', 'users-repository.ts'));
    const report = files.flatMap((file) =>
      findRawSql(readFileSync(file, 'utf8')).map(
        (f) => `${relative(SRC, file)}:${f.line} ${f.rule}: ${f.text}`,
      ),
    );
    expect(report).toEqual([]);
  });
});

describe('the scanner itself', () => {
  const flagged = (source: string) => findRawSql(source).map((f) => f.rule);

  it.each([
    ['sql.raw', 'const q = sql.raw(`select * from users where id = ${id}`);'],
    ['sql.raw', "await sql . raw ('delete from users').execute(db);"],
    ['sql.raw', "sql['raw'](input)"],
    ['sql.lit', 'db.selectFrom("users").where("email", "=", sql.lit(email))'],
    ['CompiledQuery.raw', 'await db.executeQuery(CompiledQuery.raw("select " + col));'],
    ['.unsafe', 'await postgres.unsafe(`select ${x}`);'],
    [
      '.query with interpolation',
      "await pool.query(`select * from users where email = '${email}'`);",
    ],
    ['.query with concatenation', "await client.query('select * from users where id = ' + id);"],
    ['.query with concatenation', 'await client.query("select " + cols + " from users");'],
    ['.exec with interpolation', 'database.exec(`drop table ${name}`);'],
    ['.prepare with concatenation', "database.prepare('select * from t where a = ' + a).all();"],
    ['.prepare with concatenation', "db.prepare('select '.concat(x));"],
    ['.pragma with interpolation', 'database.pragma(`key = ${k}`);'],
    ['.execute with interpolation', 'await conn.execute(`select ${x}`)'],
  ])('flags %s in: %s', (rule, source) => {
    expect(flagged(source)).toContain(rule);
  });

  it('reports the line', () => {
    expect(findRawSql('const a = 1;\n\nconst b = sql.raw(x);\n')).toEqual([
      { line: 3, rule: 'sql.raw', text: 'const b = sql.raw(x);' },
    ]);
  });

  it.each([
    'await sql`select ${id}`.execute(db);',
    'await db.selectFrom("users").selectAll().where("id", "=", id).execute();',
    'await pool.query("select 1", [id]);',
    'await pool.query({ text: "select * from users where id = $1", values: [id] });',
    'const m = HEADER_VALUE.exec(header.trim());',
    'const m = /^([a-z]+:)/i.exec(url); const q = "it\'s";',
    'const url = "postgres://x" + host; // not a driver call',
    '// never call sql.raw(input) here\nconst ok = 1;',
    '/* CompiledQuery.raw("x") is banned */',
    'const s = `${a}/${b}`; await db.transaction().execute(async (trx) => trx.selectFrom("t"));',
    "database.pragma('journal_mode = WAL');",
  ])('passes safe code: %s', (source) => {
    expect(findRawSql(source)).toEqual([]);
  });
});
