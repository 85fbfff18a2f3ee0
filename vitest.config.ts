import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

// With DATABASE_URL set, every test that touches the database runs a second time on PostgreSQL.
// Tests of the pure HTTP pipeline, config, crypto, docs and the CLI's own plumbing do not depend
// on the dialect; the CLI's database commands (test/cli/commands.test.ts) do. Neither do unit
// tests that use no database (fakes, Redis alone, source scans), nor test/cli/audit-log.test.ts,
// which is SQLite by construction (its own file, and the child processes get no DATABASE_URL).
const DIALECT_FREE = [
  'test/http/**',
  'test/config/**',
  'test/crypto/**',
  'test/files/**',
  'test/cli/hostile-paths.test.ts',
  'test/cli/launcher-signals.test.ts',
  'test/docs/**',
  'test/cli/audit-log.test.ts',
  'test/cli/audit-log-empty.test.ts',
  'test/cli/cli.test.ts',
  'test/cli/context.test.ts',
  'test/cli/dev-cert.test.ts',
  'test/cli/doctor.test.ts',
  'test/cli/https-serve.test.ts',
  'test/cli/production.test.ts',
  'test/cli/terminal-output.test.ts',
  'test/posture/**',
  'test/cli/progress.test.ts',
  'test/cli/usage.test.ts',
  'test/cli/user-not-found.test.ts',
  'test/oidc/config.test.ts',
  'test/oidc/cookies.test.ts',
  'test/oidc/handoff-hold.test.ts',
  'test/scan/**',
  'test/tools/**',
  'test/audit/audit-chain.test.ts',
  'test/audit/audit-sink.test.ts',
  'test/audit/event-coalescer.test.ts',
  'test/mail/**',
  'test/metrics/route-histogram.test.ts',
  'test/rate-limit/client-key.test.ts',
  'test/security/architecture.test.ts',
  'test/security/no-raw-sql.test.ts',
  'test/store/capped-memory-counter.test.ts',
  'test/store/creation-order.test.ts',
  'test/store/one-time-values.test.ts',
  'test/store/revocation-bus.test.ts',
  'test/tokens/bounded-cache.test.ts',
  'test/users/scripts.test.ts',
  'test/users/user-import.test.ts',
];
const postgresUrl = process.env.DATABASE_URL;

export default defineConfig({
  test: {
    reporters: ['default', './test/helpers/summary-reporter.ts'],
    // Test files are independent (own SQLite file or PostgreSQL schema, own Redis prefix, port 0)
    // and spend much of their time waiting on child processes, PostgreSQL and the network, so run
    // at least two at once: Vitest's default (cores - 1) is one file at a time on 2 cores.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // Each worker keeps its loaded modules from one test file to the next. Isolated, every file
    // loaded Fastify, Kysely, jose & co. afresh: 200 of the suite's ~460 s went to imports alone,
    // 20 s now. Files share no state through modules (each builds its own app, database and
    // Redis prefix, and restores its spies, stubbed variables and fake timers). A file that ever
    // needs a fresh process goes in a project of its own with isolate: true.
    projects: [
      {
        test: {
          name: 'sqlite',
          include: ['test/**/*.test.ts'],
          env: { DATABASE_URL: '' },
          isolate: false,
          testTimeout: 20_000,
          hookTimeout: 30_000,
        },
      },
      ...(postgresUrl
        ? [
            {
              test: {
                name: 'postgres',
                include: ['test/**/*.test.ts'],
                exclude: DIALECT_FREE,
                env: { DATABASE_URL: postgresUrl },
                // Drops the migrated schemas the workers keep for reuse (test/helpers/db.ts).
                globalSetup: ['./test/helpers/global-setup.ts'],
                isolate: false,
                testTimeout: 20_000,
                hookTimeout: 30_000,
              },
            },
          ]
        : []),
    ],
  },
});
