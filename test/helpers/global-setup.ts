import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Prefix of this run's PostgreSQL test schemas ('' on SQLite); see test/helpers/db.ts. */
    schemaPoolPrefix: string;
  }
}

/**
 * The PostgreSQL project's global setup: names this run's test schemas with a prefix of its
 * own, so that the schemas the workers keep for reuse (test/helpers/db.ts) are dropped when the
 * run ends, and only this run's: other runs may share the server.
 */
export default function setup(project: TestProject): (() => Promise<void>) | undefined {
  const url = project.config.env?.DATABASE_URL;
  if (typeof url !== 'string' || url === '') {
    project.provide('schemaPoolPrefix', '');
    return undefined;
  }
  const prefix = `bw_${Date.now().toString(36)}${randomBytes(3).toString('hex')}_`;
  project.provide('schemaPoolPrefix', prefix);
  return async () => {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
    await client.connect();
    try {
      const { rows } = await client.query<{ name: string }>(
        `select nspname as name from pg_namespace where starts_with(nspname, $1)`,
        [prefix],
      );
      for (const { name } of rows) {
        // Other runs dropping their schemas at the same moment can deadlock on the catalog.
        for (let attempt = 1; ; attempt++) {
          try {
            await client.query(`drop schema if exists ${pg.escapeIdentifier(name)} cascade`);
            break;
          } catch (error) {
            if ((error as { code?: unknown }).code !== '40P01' || attempt >= 5) throw error;
            await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
          }
        }
      }
    } finally {
      await client.end();
    }
  };
}
