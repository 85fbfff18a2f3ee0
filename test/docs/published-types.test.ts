import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';

/*
 * docs/library.md compiles its example "with tsc (module nodenext, strict)": a project that
 * installs Bulwark gets its runtime dependencies, not its devDependencies, and tsc checks the
 * declaration files it reaches unless `skipLibCheck` is on (it is off by default). So the
 * published declarations (dist/, which npm test builds first) must type-check with only the
 * type packages a user has: every @types package that Bulwark lists as a devDependency only is
 * hidden here (@types/node stays: a TypeScript project on Node.js has it).
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
// Inside the package, so that `import 'bulwark'` resolves to the package itself.
const DIR = join(ROOT, 'test', 'docs', '.published-types');

function devOnlyTypePackages(): string[] {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>;
    devDependencies?: Record<string, string>;
  };
  return Object.keys(pkg.devDependencies ?? {}).filter(
    (name) =>
      name.startsWith('@types/') && name !== '@types/node' && !(name in (pkg.dependencies ?? {})),
  );
}

describe('published declaration files', () => {
  afterAll(() => rmSync(DIR, { recursive: true, force: true }));

  it('type-check without skipLibCheck and without the devDependencies’ @types', () => {
    const hidden = devOnlyTypePackages().map((name) =>
      join(ROOT, 'node_modules', ...name.split('/')),
    );
    // The check only means something while some @types package is a devDependency only.
    expect(hidden.length).toBeGreaterThan(0);
    const isHidden = (path: string): boolean =>
      hidden.some(
        (dir) => path === dir || path.startsWith(dir + sep) || path.startsWith(dir + '/'),
      );

    mkdirSync(DIR, { recursive: true });
    const file = join(DIR, 'consumer.mts');
    writeFileSync(
      file,
      "import { buildApp, loadConfig, runServer } from 'bulwark';\n" +
        'export const app = await buildApp(loadConfig());\nexport { runServer };\n',
    );
    const options: ts.CompilerOptions = {
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      strict: true,
      noEmit: true,
      skipLibCheck: false,
      types: ['node'],
    };
    const host = ts.createCompilerHost(options);
    const real = ts.createCompilerHost(options);
    host.fileExists = (path) => !isHidden(path) && real.fileExists(path);
    host.directoryExists = (path) => !isHidden(path) && (real.directoryExists?.(path) ?? true);
    host.readFile = (path) => (isHidden(path) ? undefined : real.readFile(path));

    const program = ts.createProgram([file], options, host);
    // Bulwark's own declaration files and the consumer: what they use of other packages is
    // checked with them, and the other packages' files (their own business) are not.
    const ours = program
      .getSourceFiles()
      .filter((f) => f.fileName === file || f.fileName.startsWith(join(ROOT, 'dist') + sep));
    expect(ours.length).toBeGreaterThan(1);
    const problems = [
      ...program.getOptionsDiagnostics(),
      ...ours.flatMap((f) => [
        ...program.getSyntacticDiagnostics(f),
        ...program.getSemanticDiagnostics(f),
      ]),
    ].map((d) =>
      `${d.file?.fileName.replace(ROOT, '') ?? ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`.trim(),
    );
    expect(problems).toEqual([]);
  }, 60_000);
});
