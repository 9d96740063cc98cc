import pg from 'pg';

/** The server the machines start before each session; override with TEST_POSTGRES_URL. */
const ADMIN_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface ThrowawayDatabase {
  url: string;
  drop(): Promise<void>;
}

/** Why the PostgreSQL suites are skipped in this run (decided once by the global setup), or undefined. */
export function postgresSkipReason(): string | undefined {
  return process.env.TEST_POSTGRES_UNAVAILABLE;
}

let created = 0;

/** Creates an empty database for one test suite; drop() removes it, connections and all. */
export async function createThrowawayDatabase(): Promise<ThrowawayDatabase> {
  const admin = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 3000 });
  await admin.connect();
  const name = `schedules_test_${process.pid}_${Date.now()}_${created++}`;
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: ADMIN_URL });
      await client.connect();
      // pg's pool.end() resolves before its sockets are gone; let them go before forcing the rest.
      for (let i = 0; i < 100; i++) {
        const { rows } = await client.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1', [name]);
        if (rows[0].n === 0) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}
