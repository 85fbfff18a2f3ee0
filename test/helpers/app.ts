import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { buildApp, type BuildAppOptions, type BulwarkApp } from '../../src/app.js';
import { createConfig, type Config, type ConfigInput } from '../../src/config/index.js';
import { createMigratedTestDb, type TestDb } from './db.js';

/** Collects JSON log lines written by the app. */
export class LogCapture extends Writable {
  readonly lines: Record<string, unknown>[] = [];
  readonly raw: string[] = [];

  override _write(chunk: Buffer, _encoding: string, callback: () => void): void {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.trim() === '') continue;
      this.raw.push(line);
      this.lines.push(JSON.parse(line) as Record<string, unknown>);
    }
    callback();
  }
}

/**
 * Routes a library user might add, used to drive the pipeline: a strict JSON body, a query
 * string, and handlers that fail in the ways real code fails.
 */
export function exampleRoutes(app: FastifyInstance): void {
  app.post(
    '/api/v1/examples',
    {
      schema: {
        body: Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 20 }),
            count: Type.Optional(Type.Integer({ minimum: 0, maximum: 10 })),
            tags: Type.Optional(Type.Array(Type.String({ maxLength: 10 }), { maxItems: 5 })),
            nested: Type.Optional(
              Type.Object(
                { note: Type.String({ maxLength: 50 }) },
                { additionalProperties: false },
              ),
            ),
          },
          { additionalProperties: false },
        ),
      },
    },
    (request, reply) => reply.code(201).send({ received: request.body }),
  );
  app.get(
    '/api/v1/examples',
    {
      schema: {
        querystring: Type.Object(
          { limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })) },
          { additionalProperties: false },
        ),
      },
    },
    (request) => ({ query: request.query }),
  );
  // A step-up route: a valid token is not enough, its session must have shown a second factor.
  app.get(
    '/api/v1/examples/step-up',
    {
      preHandler: app.requireMfa,
      schema: {
        response: {
          200: Type.Object({ amr: Type.Array(Type.String()) }, { additionalProperties: false }),
        },
      },
    },
    (request) => ({ amr: [...request.auth!.amr] }),
  );
  app.get('/api/v1/examples/crash', () => {
    // What a careless handler leaks when it fails: SQL, a path, a secret.
    throw new Error(
      'SQLITE_ERROR: near "DROP": syntax error in SELECT * FROM users WHERE password_hash = \'$argon2id$secret\' at /work/main/src/db/users.ts:42',
    );
  });
  // A library error that carries only a status, with a message that must never be shown.
  app.get(
    '/api/v1/examples/status/:status',
    {
      schema: {
        params: Type.Object(
          { status: Type.Integer({ minimum: 100, maximum: 599 }) },
          { additionalProperties: false },
        ),
      },
    },
    (request) => {
      const error = new Error('internal detail: db host 10.0.0.5') as Error & {
        statusCode: number;
      };
      error.statusCode = (request.params as { status: number }).status;
      throw error;
    },
  );
  // A library user's route that declares no body: it must not take one.
  app.post('/api/v1/examples/no-body', () => ({ done: true }));
  app.delete('/api/v1/examples/no-body', () => ({ done: true }));
  // A handler that finds nothing under a route that exists (as @fastify/static does for a file).
  app.get('/api/v1/examples/missing', (_request, reply) => reply.callNotFound());
  app.get('/api/v1/examples/slow', async () => {
    await new Promise((resolve) => setTimeout(resolve, 300));
    return { done: true };
  });
}

export interface TestApp {
  app: BulwarkApp;
  logs: LogCapture;
  /** The test's own database (a PostgreSQL schema or a temporary SQLite file). */
  testDb: TestDb;
  config: Config;
}

/** A fresh random master key, so tests never write a development key file. */
export const TEST_MASTER_KEY = randomBytes(32).toString('base64');

/**
 * Limits high enough that suites calling login many times from 127.0.0.1 never meet them; the
 * rate-limit tests pass their own. Limiting stays on, so every suite runs through it.
 */
export const GENEROUS_LIMITS = {
  general: { points: 1_000_000 },
  auth: { points: 1_000_000 },
  login: {
    accountClientFailures: 10_000,
    clientFailures: 100_000,
    accountFreeFailures: 10_000,
    mfaFailures: 1_000,
  },
} as const;

/**
 * OpenID Connect settings with one provider (the Google preset) that no test contacts: enough
 * for the sign-in routes to be configured and described in /openapi.json.
 */
export const UNCONTACTED_PROVIDER = {
  providers: {
    google: {
      preset: 'google',
      clientId: 'id.apps.googleusercontent.com',
      clientSecret: 'GOCSPX-not-a-real-secret',
      redirectUri: 'http://127.0.0.1:3000/api/v1/auth/oidc/google/callback',
      appUrls: ['http://127.0.0.1:5173/signed-in'],
    },
  },
} as const satisfies ConfigInput['oidc'];

/**
 * Settings for tests: their own database, a random master key, cheap argon2 parameters (the
 * OWASP defaults are exercised by the crypto tests and the benchmarks) and generous limits.
 */
export function testConfigInput(testDb: TestDb, input: ConfigInput = {}): ConfigInput {
  return {
    env: 'test',
    log: { level: 'debug' },
    ...input,
    rateLimit: {
      ...input.rateLimit,
      general: { ...GENEROUS_LIMITS.general, ...input.rateLimit?.general },
      auth: { ...GENEROUS_LIMITS.auth, ...input.rateLimit?.auth },
      login: { ...GENEROUS_LIMITS.login, ...input.rateLimit?.login },
    },
    database: {
      sqlitePath: testDb.sqlitePath,
      ...(testDb.url === undefined ? {} : { url: testDb.url }),
      ...input.database,
    },
    keys: { masterKey: TEST_MASTER_KEY, ...input.keys },
    passwords: { argon2MemoryKiB: 1024, argon2Iterations: 1, ...input.passwords },
  };
}

/** Builds the app with test settings and the example routes, ready for inject(). */
export async function buildTestApp(
  input: ConfigInput = {},
  options: BuildAppOptions = {},
): Promise<TestApp> {
  const logs = new LogCapture();
  // Migrated here, not by the app's start: on PostgreSQL a schema emptied by an earlier file.
  const testDb = await createMigratedTestDb();
  const config = createConfig(testConfigInput(testDb, input));
  let app: BulwarkApp;
  try {
    app = await buildApp(config, { logger: logs, ...options });
  } catch (error) {
    await testDb.cleanup();
    throw error;
  }
  app.addHook('onClose', () => testDb.cleanup());
  await app.register((child, _opts, done) => {
    exampleRoutes(child);
    done();
  });
  await app.ready();
  return { app, logs, testDb, config };
}
