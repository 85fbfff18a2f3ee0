import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import { Spawned } from '../helpers/process.js';

/*
 * The TypeScript examples of README.md and docs/library.md, type-checked as a library user's
 * strict project would compile them, importing 'bulwark' through the package's own exports (the
 * built dist/, which npm test builds first). An example that no longer compiles fails here; the
 * complete example of docs/library.md and its scan helpers are also run, as a reader would.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
// Inside the package, so that `import 'bulwark'` resolves to the package itself.
const DIR = join(ROOT, 'test', 'docs', '.examples');

function examples(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return [...text.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

function diagnostics(files: string[]): string[] {
  const program = ts.createProgram(files, {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: ['node'],
  });
  return ts
    .getPreEmitDiagnostics(program)
    .map((d) =>
      `${d.file?.fileName ?? ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`.trim(),
    );
}

describe('library examples in the docs', () => {
  afterAll(() => rmSync(DIR, { recursive: true, force: true }));

  it('compile under strict TypeScript against the published types', () => {
    mkdirSync(DIR, { recursive: true });
    const files: string[] = [];
    for (const doc of ['README.md', 'docs/library.md']) {
      examples(doc).forEach((code, i) => {
        // .mts: an ES module in the package's own scope, where `bulwark` names the package itself.
        const file = join(DIR, `${doc.replace(/\W/g, '-')}-${i}.mts`);
        // Each example is its own module.
        writeFileSync(file, `${code}\nexport {};\n`);
        files.push(file);
      });
    }
    expect(files.length).toBeGreaterThanOrEqual(2);
    expect(diagnostics(files)).toEqual([]);
  }, 60_000);

  it('run: the notes service does what docs/library.md says, and its scan helpers find it clean', async () => {
    mkdirSync(DIR, { recursive: true });
    const [notes, scan] = examples('docs/library.md');
    const compiled = (code: string, name: string): string => {
      const file = join(DIR, name);
      const options = { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 };
      writeFileSync(file, ts.transpileModule(code, { compilerOptions: options }).outputText);
      return file;
    };
    const notesFile = compiled(notes!, 'library-notes.mjs');
    const scanFile = compiled(scan!, 'library-scan.mjs');
    // Its own directory for the development key and the SQLite file, on a free loopback port.
    const cwd = mkdtempSync(join(tmpdir(), 'bulwark-notes-'));
    const server = new Spawned([notesFile], { PORT: '0', NODE_ENV: 'development' }, cwd);
    try {
      const [, url] = await server.waitFor(/^listening on (http:\/\/127\.0\.0\.1:\d+)$/m, 15_000);
      const post = (path: string, body: unknown, token?: string) =>
        fetch(`${url}${path}`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
          },
          body: JSON.stringify(body),
        });
      const signIn = async (email: string): Promise<string> => {
        const password = 'correct horse battery staple';
        expect((await post('/api/v1/auth/register', { email, password, name: 'N' })).status).toBe(
          201,
        );
        const login = await post('/api/v1/auth/login', { email, password });
        return ((await login.json()) as { accessToken: string }).accessToken;
      };
      const ann = await signIn('ann@example.com');
      const bob = await signIn('bob@example.com');

      const created = await post('/api/v1/notes', { text: 'hello' }, ann);
      expect(created.status).toBe(201);
      const note = (await created.json()) as { id: string; text: string };
      expect(note.text).toBe('hello');
      const read = (token: string) =>
        fetch(`${url}/api/v1/notes/${note.id}`, { headers: { authorization: `Bearer ${token}` } });
      const own = await read(ann);
      expect(own.status).toBe(200);
      expect(await own.json()).toEqual(note);
      // Someone else's note is answered like a missing one.
      const other = await read(bob);
      expect(other.status).toBe(404);
      expect(((await other.json()) as { code: string }).code).toBe('not_found');
      expect((await post('/api/v1/notes', { text: 'x', ownerId: 'y' }, ann)).status).toBe(400);
      expect((await post('/api/v1/notes', { text: 'x' })).status).toBe(401);

      const helpers = (await import(pathToFileURL(scanFile).href)) as {
        expectCleanScan: (baseUrl: string, accessToken: string) => Promise<void>;
        tokenProblems: (token: string, jwks: string) => Promise<string[]>;
      };
      await helpers.expectCleanScan(url!, ann);
      const jwks = await (await fetch(`${url}/.well-known/jwks.json`)).text();
      // The example asks for the audience 'my-api'; Bulwark's tokens name 'bulwark-api'.
      expect(await helpers.tokenProblems(ann, jwks)).toEqual([expect.stringMatching(/^aud: /)]);
    } finally {
      server.kill();
      await server.exited;
      rmSync(cwd, { recursive: true, force: true });
    }
  }, 60_000);
});
