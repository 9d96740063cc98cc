import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import createClient from 'openapi-fetch';
import type { paths } from '../examples/schedule-api.js';
import { walkThrough } from '../examples/typed-client.js';
import { OPENAPI_CONTRACT_PATH } from './support/openapi-contract.js';
import { createTestApp, type TestApp } from './support/test-app.js';

/*
 * The published contract as a client sees it: types generated from docs/openapi.json by a stock
 * openapi-typescript (default options), requests sent by openapi-fetch, the README's walk-through
 * run through them (examples/typed-client.ts) against the service. That it compiles under strict
 * is `npm run typecheck`'s part (examples/ is in tsconfig.json); what must not compile is below.
 */

const ROOT = join(import.meta.dirname, '..');
const GENERATED = join(ROOT, 'examples', 'schedule-api.d.ts');

describe('a client generated from the published contract', () => {
  let testApp: TestApp;
  let baseUrl: string;

  beforeAll(async () => {
    testApp = await createTestApp('sqlite');
    await testApp.app.listen(0, '127.0.0.1');
    baseUrl = `http://127.0.0.1:${(testApp.app.getHttpServer().address() as AddressInfo).port}`;
  });
  afterAll(() => testApp?.close());

  it('is what openapi-typescript generates from docs/openapi.json today (npm run openapi regenerates it)', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'typed-client-'));
    try {
      const fresh = join(folder, 'schedule-api.d.ts');
      await promisify(execFile)(join(ROOT, 'node_modules', '.bin', 'openapi-typescript'), [OPENAPI_CONTRACT_PATH, '-o', fresh], { cwd: ROOT });
      assert.equal(readFileSync(GENERATED, 'utf8'), readFileSync(fresh, 'utf8'), 'examples/schedule-api.d.ts is stale: run npm run openapi');
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it("runs the README's walk-through: create with the required fields only, PATCH one field, run, list, next fire times, another user's 404", async () => {
    const result = await walkThrough(baseUrl, 'typed-alice', 'typed-bob');
    assert.equal(result.created.data.name, 'Morning digest');
    // The omitted fields took the values the contract names for them.
    assert.equal(result.created.data.enabled, true);
    assert.equal(result.created.data.overlap_policy, 'skip');
    // Spread: the body was parsed in Node's realm, not the test's (strict deepEqual compares prototypes).
    assert.deepEqual({ ...result.created.data.chat_model_config.parameters }, {});
    assert.equal(result.renamed.data.name, 'Weekday digest');
    assert.equal(result.renamed.data.timezone, 'Asia/Shanghai', 'what the PATCH left out kept its value');
    assert.equal(result.sessions.length, 1);
    assert.equal(result.sessions[0].source_schedule_id, result.created.id);
    assert.equal(result.nextRuns.length, 2);
    for (const local of result.nextRuns) assert.match(local, /T09:00:00\+08:00$/);
    assert.equal(result.strangerSees, 'urn:schedule-service:problem:schedule-not-found');
  });

  it('types what the contract says a request needs, and no more', async () => {
    const client = createClient<paths>({ baseUrl, headers: { 'x-user-id': 'typed-carol' } });
    const created = await client.POST('/schedule', {
      body: { name: 'x', cron_expression: '0 9 * * *', agent_id: 'a', chat_model_config: { type: 'openai', credential_id: '', model: 'm' } },
    });
    assert.ok(created.data);
    const params = { path: { schedule_id: created.data.schedule_id } };
    // A PATCH with no field at all is a request the types accept (and the service, as a no-op).
    const unchanged = await client.PATCH('/schedule/{schedule_id}', { params, body: {} });
    assert.equal(unchanged.response.status, 200);

    // @ts-expect-error: create needs agent_id and chat_model_config too (and one kind of fire time, which the service checks).
    const incomplete = await client.POST('/schedule', { body: { name: 'x' } });
    assert.equal(incomplete.response.status, 422);
    // @ts-expect-error: overlap_policy is one of skip, buffer_one, allow, replace.
    const unknownPolicy = await client.PATCH('/schedule/{schedule_id}', { params, body: { overlap_policy: 'sometimes' } });
    assert.equal(unknownPolicy.response.status, 422);
    // The error answers are typed as problems.
    assert.equal(incomplete.error?.status, 422);
    assert.ok(incomplete.error?.errors?.some((e) => e.field === 'agent_id'));
  });
});
