import { join } from 'node:path';
import { DEFAULT_OBSERVABILITY } from '../../src/config/app-config.js';
import { createTestApp, type TestAppOptions } from './test-app.js';

/** The published contract: the OpenAPI document of the app in CONTRACT_OPTIONS' configuration. */
export const OPENAPI_CONTRACT_PATH = join(import.meta.dirname, '../../docs/openapi.json');

/**
 * The configuration the contract describes: header mode (the default), a runtime token so that
 * the /runtime routes are in it, metrics on, and a rate limit so that the 429s are.
 */
export const CONTRACT_OPTIONS: TestAppOptions = {
  auth: { mode: 'header', jwt: null },
  runtimeToken: 'openapi-contract',
  rateLimit: { perMinute: 600, redisUrl: null },
  observability: { ...DEFAULT_OBSERVABILITY, metricsEnabled: true },
};

/** The document as the app serves it at /docs-json, as the file holds it (2-space JSON, final newline). */
export async function generateOpenApiContract(): Promise<string> {
  const testApp = await createTestApp('memory', CONTRACT_OPTIONS);
  try {
    const res = await testApp.app.inject({ method: 'GET', url: '/docs-json' });
    if (res.statusCode !== 200) throw new Error(`/docs-json answered ${res.statusCode}: ${res.body.slice(0, 300)}`);
    return `${JSON.stringify(JSON.parse(res.body), null, 2)}\n`;
  } finally {
    await testApp.close();
  }
}
