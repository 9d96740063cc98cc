import pg from 'pg';

// Jest loads this file on its own, outside the test modules' resolution (no relative imports here).
const ADMIN_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/**
 * Runs once before every test file: decides whether the PostgreSQL suites can run here. Outside
 * CI an unreachable server skips them, with the reason in their title; under CI=true it fails the run.
 */
export default async function globalSetup(): Promise<void> {
  const admin = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 3000 });
  try {
    await admin.connect();
    await admin.end();
  } catch (error) {
    const reason = `PostgreSQL at ${ADMIN_URL} is unreachable (${(error as Error).message})`;
    if (process.env.CI === 'true') throw new Error(`${reason}; CI=true requires it`);
    process.env.TEST_POSTGRES_UNAVAILABLE = reason;
  }
}
