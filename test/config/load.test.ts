import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createConfig, loadConfig } from '../../src/config/index.js';
import { settings } from '../../src/config/settings.js';
import { ConfigError } from '../../src/errors.js';

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

function tempFile(content: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-config-'));
  const file = join(dir, 'config.json');
  writeFileSync(file, content);
  return file;
}

describe('config defaults', () => {
  it('are secure and complete with no input', () => {
    const config = loadConfig({ env: {} });
    expect(config.env).toBe('development');
    expect(config.server).toMatchObject({ host: '127.0.0.1', port: 3000, trustProxy: [] });
    expect(config.http.bodyLimitBytes).toBe(102_400);
    expect(config.cors).toEqual({ origins: [], credentials: false, maxAgeSeconds: 600 });
    expect(config.api.deprecations).toEqual({});
  });

  it('is frozen all the way down', () => {
    const config = loadConfig({ env: {} });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.cors.origins)).toBe(true);
    expect(() => {
      (config.server as { port: number }).port = 1;
    }).toThrow(TypeError);
  });
});

describe('createConfig', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('ignores the environment', () => {
    vi.stubEnv('BULWARK_SERVER_PORT', '8080');
    expect(createConfig({}).server.port).toBe(3000);
  });

  it('refuses to build a development config on a machine where NODE_ENV is production', () => {
    vi.stubEnv('NODE_ENV', 'production');
    const [problem] = problemsOf(() => createConfig({ access: { defaultRole: 'user' } }));
    expect(problem).toContain('createConfig() ignores the environment, but NODE_ENV is production');
    expect(problem).toContain('Fix: build the configuration with loadConfig({ overrides })');
    // Saying which env is wanted is explicit enough.
    expect(createConfig({ env: 'test' }).env).toBe('test');
  });
});

describe('config from the environment', () => {
  it('reads BULWARK_* and the conventional variables with types', () => {
    const config = loadConfig({
      env: {
        NODE_ENV: 'production',
        PORT: '8080',
        HOST: '0.0.0.0',
        BULWARK_CORS_ORIGINS: 'https://a.example, https://b.example',
        BULWARK_CORS_CREDENTIALS: 'true',
        BULWARK_HTTP_BODY_LIMIT_BYTES: '4096',
        BULWARK_SERVER_TRUST_PROXY: '10.0.0.0/8,::1',
        BULWARK_API_DEPRECATIONS: '{"1":{"deprecatedAt":"2026-01-01T00:00:00Z"}}',
        BULWARK_DOCS_ENABLED: 'false',
        UNRELATED: 'ignored',
      },
    });
    expect(config.env).toBe('production');
    expect(config.server.port).toBe(8080);
    expect(config.server.host).toBe('0.0.0.0');
    expect(config.cors.origins).toEqual(['https://a.example', 'https://b.example']);
    expect(config.cors.credentials).toBe(true);
    expect(config.http.bodyLimitBytes).toBe(4096);
    expect(config.server.trustProxy).toEqual(['10.0.0.0/8', '::1']);
    expect(config.api.deprecations['1']?.deprecatedAt).toBe('2026-01-01T00:00:00Z');
    expect(config.docs.enabled).toBe(false);
  });

  it('accepts the conventional aliases, BULWARK_MASTER_KEY included', () => {
    const config = loadConfig({
      env: { BULWARK_MASTER_KEY: 'a2V5', DATABASE_URL: 'postgres://db.example/app' },
    });
    expect(config.keys.masterKey).toBe('a2V5');
    expect(config.database.url).toBe('postgres://db.example/app');
  });

  it('never echoes a secret or URL value in an error', () => {
    const problems = problemsOf(() =>
      loadConfig({ env: { DATABASE_URL: 'mysql://root:hunter2@db/app' } }),
    );
    expect(problems.join('\n')).toContain('DATABASE_URL');
    expect(problems.join('\n')).not.toContain('hunter2');
  });

  it('prefers BULWARK_SERVER_PORT over PORT', () => {
    expect(loadConfig({ env: { PORT: '1', BULWARK_SERVER_PORT: '2' } }).server.port).toBe(2);
  });

  it('spells a unit as one word in environment names (KIB, not KI_B)', () => {
    const config = loadConfig({ env: { BULWARK_PASSWORDS_ARGON2_MEMORY_KIB: '47104' } });
    expect(config.passwords.argon2MemoryKiB).toBe(47104);
    // No name is split into one-letter pieces an operator would never guess.
    const oneLetter = settings.map((s) => s.envName).filter((n) => /_[A-Z](_|$)/.test(n));
    expect(oneLetter).toEqual([]);
  });

  it('lets the environment override the file', () => {
    const file = tempFile(JSON.stringify({ server: { port: 4000, host: '0.0.0.0' } }));
    const config = loadConfig({ env: { PORT: '5000' }, file });
    expect(config.server.port).toBe(5000);
    expect(config.server.host).toBe('0.0.0.0');
  });
});

describe('invalid config', () => {
  it('names the variable, the problem, the bad value and the fix', () => {
    const [problem] = problemsOf(() => loadConfig({ env: { PORT: 'eighty' } }));
    expect(problem).toContain('PORT (server.port)');
    expect(problem).toContain('must be integer');
    expect(problem).toContain('"eighty"');
    expect(problem).toContain('Fix: set it to an integer from 0 to 65535');
  });

  it('reports every bad setting at once', () => {
    const problems = problemsOf(() =>
      loadConfig({
        env: { PORT: '70000', BULWARK_LOG_LEVEL: 'loud', BULWARK_DOCS_ENABLED: 'maybe' },
      }),
    );
    expect(problems).toHaveLength(3);
    expect(problems.join('\n')).toMatch(/BULWARK_LOG_LEVEL .*one of "fatal"/);
    expect(problems.join('\n')).toMatch(/BULWARK_DOCS_ENABLED .*true or false/);
  });

  it('refuses an entry of a named map whose name is not valid, for every map', () => {
    const cases: [Parameters<typeof createConfig>[0], string][] = [
      [{ access: { roles: { 'Bad Name': [], admin: [], user: [] } } }, 'access.roles'],
      // Before: a bad provider name skipped validation and the rules crashed on the entry.
      [{ oidc: { providers: { 'Bad Name': {} } } }, 'oidc.providers'],
      [
        { api: { deprecations: { v1: { deprecatedAt: '2027-01-01T00:00:00Z' } } } },
        'api.deprecations',
      ],
      [
        { rateLimit: { policies: { 'Bad Name': { points: 1, durationSeconds: 1 } } } },
        'rateLimit.policies',
      ],
    ];
    for (const [input, map] of cases) {
      const [problem] = problemsOf(() => createConfig(input));
      expect(problem).toMatch(
        new RegExp(
          `^${map.replace('.', '\\.')} has an entry named "(Bad Name|v1)", which is not a valid name\\. Fix: use a name matching \\^`,
        ),
      );
    }
  });

  it('gives the fix of the value inside a map entry, not of the whole map', () => {
    const [points] = problemsOf(() =>
      createConfig({ rateLimit: { policies: { notes: { points: 0, durationSeconds: 60 } } } }),
    );
    expect(points).toContain('(rateLimit.policies.notes.points) must be >= 1, got 0');
    expect(points).toContain('Fix: set it to an integer from 1 to 1000000.');
    const [permission] = problemsOf(() =>
      createConfig({ access: { roles: { admin: ['bad perm'], user: [] } } }),
    );
    expect(permission).toContain('got "bad perm"');
    expect(permission).toContain(
      'Fix: set it to a string of at most 64 characters matching ^[a-z]',
    );
  });

  // A list of thousands of entries pasted into one setting printed as one line of 500 KiB.
  it('describes a long value by its size instead of quoting it whole', () => {
    const proxies = Array.from({ length: 30_000 }, (_, i) => `10.${i >> 8}.${i & 255}.0/24`);
    const [list] = problemsOf(() => createConfig({ server: { trustProxy: proxies } }));
    expect(list).toBe(
      'server.trustProxy must NOT have more than 64 items, got a list of 30000 entries. Fix: set it to a list of at most 64 entries (comma-separated in the environment), each a string of at most 64 characters.',
    );
    const [fromEnv] = problemsOf(() =>
      loadConfig({ env: { BULWARK_SERVER_TRUST_PROXY: proxies.slice(0, 65).join(',') } }),
    );
    expect(fromEnv).toContain('got a list of 65 entries.');
    const [text] = problemsOf(() => loadConfig({ env: { BULWARK_LOG_LEVEL: 'x'.repeat(500) } }));
    expect(text).toContain(`got "${'x'.repeat(40)}"… (500 characters).`);
    expect(text!.length).toBeLessThan(400);
    // Short values are still quoted whole.
    const [short] = problemsOf(() => loadConfig({ env: { BULWARK_LOG_LEVEL: 'loud' } }));
    expect(short).toContain('got "loud"');
  });

  it('states both length bounds of a string', () => {
    const [problem] = problemsOf(() => loadConfig({ env: { BULWARK_METRICS_TOKEN: 'short' } }));
    expect(problem).toContain('Fix: set it to a string of 32 to 512 characters.');
    expect(problem).not.toContain('short');
  });

  it('refuses an unknown BULWARK_ variable and suggests the right one', () => {
    const [problem] = problemsOf(() =>
      loadConfig({ env: { BULWARK_CORS_ORIGIN: 'https://a.example' } }),
    );
    expect(problem).toContain('BULWARK_CORS_ORIGIN is not a Bulwark setting');
    expect(problem).toContain('did you mean BULWARK_CORS_ORIGINS');
  });

  it('suggests the setting of a name given without its section', () => {
    // BULWARK_MASTER_KEY is a setting's name, so BULWARK_MASTER_KEY_FILE is an easy guess to make.
    const cases: [string, string][] = [
      ['BULWARK_MASTER_KEY_FILE', 'did you mean BULWARK_KEYS_MASTER_KEY_FILE?'],
      ['BULWARK_TRUST_PROXY', 'did you mean BULWARK_SERVER_TRUST_PROXY?'],
      ['BULWARK_PUBLIC_ORIGIN', 'did you mean BULWARK_SERVER_PUBLIC_ORIGIN?'],
      ['BULWARK_WEBHOOK_URL', 'did you mean BULWARK_AUDIT_WEBHOOK_URL?'],
      ['BULWARK_HOST', 'did you mean BULWARK_SERVER_HOST or BULWARK_METRICS_HOST?'],
    ];
    for (const [name, guess] of cases) {
      const [problem] = problemsOf(() => loadConfig({ env: { [name]: '1' } }));
      expect(problem).toContain(`${name} is not a Bulwark setting. Fix: ${guess}`);
    }
    // A suffix that many settings share names none of them.
    const [problem] = problemsOf(() => loadConfig({ env: { BULWARK_URL: 'x' } }));
    expect(problem).not.toContain('did you mean');
  });

  it('guesses only a setting close to the misspelt name', () => {
    const [problem] = problemsOf(() => loadConfig({ env: { BULWARK_FOO: '1' } }));
    expect(problem).toContain('BULWARK_FOO is not a Bulwark setting');
    expect(problem).not.toContain('did you mean');
  });

  it('reports an unknown variable, an unreadable value, a schema error and a rule at once', () => {
    const problems = problemsOf(() =>
      loadConfig({
        env: {
          BULWARK_SERVR_PORT: '8080',
          BULWARK_API_DEPRECATIONS: '{nope',
          BULWARK_LOG_LEVEL: 'loud',
        },
      }),
    );
    expect(problems).toHaveLength(3);
    expect(problems[0]).toMatch(/BULWARK_API_DEPRECATIONS .*not valid JSON/);
    expect(problems[1]).toContain('did you mean BULWARK_SERVER_PORT');
    expect(problems[2]).toMatch(/BULWARK_LOG_LEVEL \(log.level\) is not one of the allowed values/);
    const withRule = problemsOf(() =>
      loadConfig({
        env: { BULWARK_FOO: '1', BULWARK_CORS_ORIGINS: 'https://a.example/path' },
      }),
    );
    expect(withRule).toHaveLength(2);
    expect(withRule[0]).toContain('BULWARK_FOO is not a Bulwark setting');
    expect(withRule[1]).toContain('not an exact origin');
  });

  it('refuses malformed JSON in an object setting', () => {
    const [problem] = problemsOf(() => loadConfig({ env: { BULWARK_API_DEPRECATIONS: '{nope' } }));
    expect(problem).toMatch(/BULWARK_API_DEPRECATIONS .*not valid JSON/);
  });

  it('refuses an object setting nested past any setting, or with a number out of range', () => {
    const deep = `{"a":${'['.repeat(50_000)}${']'.repeat(50_000)}}`;
    expect(problemsOf(() => loadConfig({ env: { BULWARK_ACCESS_ROLES: deep } }))[0]).toMatch(
      /^BULWARK_ACCESS_ROLES \(access\.roles\) nests deeper than 16 levels \(at a\.0/,
    );
    expect(
      problemsOf(() => loadConfig({ env: { BULWARK_ACCESS_ROLES: '{"admin":[1e400]}' } }))[0],
    ).toMatch(/holds a number out of range \(at admin\.0\)/);
  });

  it('refuses wildcard CORS with credentials', () => {
    const [problem] = problemsOf(() =>
      createConfig({ cors: { origins: ['*'], credentials: true } }),
    );
    expect(problem).toMatch(/cors.origins .*"\*".*cors.credentials/);
  });

  it.each([
    'https://a.example/',
    'https://a.example/path',
    'a.example',
    'ftp://a.example',
    'https://*.example',
  ])('refuses the non-origin %s in the CORS list', (origin) => {
    const [problem] = problemsOf(() => createConfig({ cors: { origins: [origin] } }));
    expect(problem).toContain('not an exact origin');
  });

  it.each(['10.0.0.0/33', 'proxy.local', '1.2.3', '::1/129'])(
    'refuses the trusted proxy %s',
    (entry) => {
      const [problem] = problemsOf(() => createConfig({ server: { trustProxy: [entry] } }));
      expect(problem).toContain('not an IP address or CIDR');
    },
  );

  it.each(['0.0.0.0/0', '::/0'])('refuses trusting every address as a proxy (%s)', (entry) => {
    const [problem] = problemsOf(() => createConfig({ server: { trustProxy: [entry] } }));
    expect(problem).toContain('trusts every address');
  });

  it('refuses a sunset before the deprecation and an unknown version', () => {
    const problems = problemsOf(() =>
      createConfig({
        api: {
          deprecations: {
            '1': { deprecatedAt: '2027-01-01T00:00:00Z', sunsetAt: '2026-01-01T00:00:00Z' },
            '5': { deprecatedAt: '2027-01-01T00:00:00Z' },
          },
        },
      }),
    );
    expect(problems.join('\n')).toMatch(/sunsetAt before deprecatedAt/);
    expect(problems.join('\n')).toMatch(/version 5, which this build does not serve/);
  });

  it('refuses unknown keys in a config file', () => {
    const file = tempFile(JSON.stringify({ server: { prot: 1 } }));
    const [problem] = problemsOf(() => loadConfig({ env: {}, file }));
    expect(problem).toContain('unknown setting "server.prot"');
  });

  it('suggests the setting a misspelt file key was meant to be, as for a variable', () => {
    const file = tempFile(
      JSON.stringify({ server: { prot: 1 }, srever: {}, cors: { origin: [] }, zzz: 1 }),
    );
    const problems = problemsOf(() => loadConfig({ env: {}, file }));
    expect(problems.find((p) => p.includes('"server.prot"'))).toContain(
      'did you mean "server.port"?',
    );
    expect(problems.find((p) => p.includes('"srever"'))).toContain('did you mean "server"?');
    expect(problems.find((p) => p.includes('"cors.origin"'))).toContain(
      'did you mean "cors.origins"?',
    );
    expect(problems.find((p) => p.includes('"zzz"'))).not.toContain('did you mean');
  });

  it('names the file and key for a bad file value', () => {
    const file = tempFile(JSON.stringify({ http: { bodyLimitBytes: 10 } }));
    const [problem] = problemsOf(() => loadConfig({ env: {}, file }));
    // Once: not `…: http.bodyLimitBytes (http.bodyLimitBytes) must …`.
    expect(problem).toMatch(/^\S+: http\.bodyLimitBytes must be >= 1024, got 10\./);
    expect(problem).toContain(`${file}: http.bodyLimitBytes`);
  });

  it('names the file or variable an unknown key came from', () => {
    const file = tempFile(JSON.stringify({ server: { prot: 1 } }));
    const [fromFile] = problemsOf(() => loadConfig({ env: {}, file }));
    expect(fromFile).toContain(`${file}: unknown setting "server.prot".`);
    const [fromEnv] = problemsOf(() =>
      loadConfig({
        env: { BULWARK_RATE_LIMIT_POLICIES: '{"x":{"points":1,"durationSeconds":1,"y":1}}' },
      }),
    );
    expect(fromEnv).toContain(
      'BULWARK_RATE_LIMIT_POLICIES: unknown setting "rateLimit.policies.x.y".',
    );
  });

  it('reads a relative file from cwd when given, and names it as given', () => {
    const file = tempFile(JSON.stringify({ http: { bodyLimitBytes: 4096 } }));
    const cwd = dirname(file);
    expect(loadConfig({ env: {}, file: 'config.json', cwd }).http.bodyLimitBytes).toBe(4096);
    // An absolute path is read as it is, whatever cwd says.
    expect(loadConfig({ env: {}, file, cwd: '/nonexistent' }).http.bodyLimitBytes).toBe(4096);
    const [problem] = problemsOf(() => loadConfig({ env: {}, file: 'other.json', cwd }));
    expect(problem).toBe(
      '--config other.json cannot be read (ENOENT). Fix: pass the path of a readable JSON file.',
    );
  });

  it('says where a file or variable stops being JSON, never quoting it', () => {
    const fileProblem = (text: string) =>
      problemsOf(() => loadConfig({ env: {}, file: tempFile(text) }))[0];
    expect(fileProblem('{"server": {"port": 3471,}}')).toMatch(
      /is not valid JSON \(column 26\)\. Fix: check the file with a JSON linter\.$/,
    );
    const secret = 'hunter2-client-secret';
    const multiline = fileProblem(
      `{\n  "oidc": {"providers": {"x": {"clientSecret": "${secret}"}}}\n  "log": {}\n}`,
    );
    expect(multiline).toContain('is not valid JSON (line 3, column 3).');
    expect(multiline).not.toContain(secret);
    expect(fileProblem('{"server": ')).toContain('is not valid JSON (it ends too early).');
    const [variable] = problemsOf(() =>
      loadConfig({ env: { BULWARK_OIDC_PROVIDERS: `{"x": {"clientSecret": "${secret}"},}` } }),
    );
    expect(variable).toMatch(
      /^BULWARK_OIDC_PROVIDERS \(oidc\.providers\) is not valid JSON \(column \d+\)\./,
    );
    expect(variable).not.toContain(secret);
  });

  it('refuses a missing, unreadable or non-JSON file', () => {
    expect(problemsOf(() => loadConfig({ env: {}, file: '/nonexistent/bulwark.json' }))[0]).toMatch(
      /cannot be read \(ENOENT\)/,
    );
    expect(problemsOf(() => loadConfig({ env: {}, file: tempFile('{') }))[0]).toMatch(
      /not valid JSON/,
    );
    expect(problemsOf(() => loadConfig({ env: {}, file: tempFile('[1]') }))[0]).toMatch(
      /must hold a JSON object/,
    );
    if (process.getuid?.() !== 0) {
      const locked = tempFile('{}');
      chmodSync(locked, 0o000);
      expect(problemsOf(() => loadConfig({ env: {}, file: locked }))[0]).toMatch(/EACCES/);
    }
  });

  it('refuses prototype-poisoning keys in a config file, at any depth, and pollutes nothing', () => {
    for (const [text, at] of [
      ['{"__proto__": {"polluted": true}, "server": {"port": 1234}}', '"__proto__" (at __proto__)'],
      [
        '{"server": {"constructor": {"prototype": {"polluted": true}}}}',
        '"constructor" (at server.constructor)',
      ],
      [
        '{"access": {"roles": {"prototype": ["users:read"]}}}',
        '"prototype" (at access.roles.prototype)',
      ],
    ] as const) {
      const [problem] = problemsOf(() => loadConfig({ env: {}, file: tempFile(text) }));
      expect(problem).toContain(`holds the key ${at}, which is never a setting. Fix: remove it.`);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses a number out of range by its place, not as null', () => {
    const file = tempFile('{"server": {"port": 1e400}}');
    const [problem] = problemsOf(() => loadConfig({ env: {}, file }));
    expect(problem).toContain('holds a number out of range (at server.port)');
  });

  it('refuses a config file nested deeper than any setting, with a message and no stack', () => {
    // 100 000 levels: merging it recursively overflowed the stack (a RangeError and its trace).
    const file = tempFile(`{"x":${'['.repeat(100_000)}${']'.repeat(100_000)}}`);
    const [problem] = problemsOf(() => loadConfig({ env: {}, file }));
    expect(problem).toMatch(/nests deeper than 16 levels \(at x\.0\.0/);
  });
});
