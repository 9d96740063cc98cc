import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import type { Browser, Locator, Page } from 'playwright-core';
import { browserSkipReason, launchChromium } from './support/browser.js';
import { createTestApp, type TestApp } from './support/test-app.js';

/*
 * Swagger UI in a real browser (Debian's chromium, driven by playwright-core), as a new user meets
 * it: open /docs, authorize once, then create a schedule, fire it and list its sessions with
 * "Try it out", each step's live response read from the page. Outside CI a machine without
 * /usr/bin/chromium skips it; under CI=true that is a failure.
 */

const USER_ID = 'alice@example.com';

/** One operation's panel, by the id Swagger UI's deep links give it (`operations-{tag}-{operationId}`). */
async function openOperation(page: Page, operationId: string): Promise<Locator> {
  const operation = page.locator(`#operations-schedule-${operationId}`);
  await operation.locator('.opblock-summary-control').click();
  await operation.getByRole('button', { name: 'Try it out' }).click();
  return operation;
}

/** Executes the open operation and reads its live response: the status code and the JSON body. */
async function execute(operation: Locator): Promise<{ status: number; body: any; curl: string }> {
  await operation.getByRole('button', { name: 'Execute' }).click();
  const live = operation.locator('.live-responses-table');
  const status = live.locator('.response .response-col_status').first();
  await status.waitFor();
  const body = await live.locator('.response-col_description .highlight-code pre').first().textContent();
  const curl = (await operation.locator('.curl-command').textContent()) ?? '';
  return { status: Number((await status.textContent())?.trim()), body: JSON.parse(body ?? ''), curl };
}

describe('Swagger UI in a browser', () => {
  const skip = browserSkipReason();
  if (skip) {
    it.skip(`skipped: ${skip}`, () => undefined);
    return;
  }

  let testApp: TestApp;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    testApp = await createTestApp('sqlite');
    await testApp.app.listen(0, '127.0.0.1');
    const { port } = testApp.app.getHttpServer().address() as AddressInfo;
    browser = await launchChromium();
    page = await browser.newPage();
    page.setDefaultTimeout(10_000);
    // A Content-Security-Policy that blocks what the page needs shows up here, naming the directive.
    page.on('console', (message) => {
      if (message.type() === 'error') pageErrors.push(message.text());
    });
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(`http://127.0.0.1:${port}/docs`);
  }, 30_000);

  afterAll(async () => {
    await browser?.close();
    await testApp?.close();
  });

  it('authorizes once, then creates a schedule, fires it and lists its sessions with "Try it out"', async () => {
    await page
      .locator('.swagger-ui .info .title')
      .waitFor()
      .catch((error: Error) => assert.fail(`Swagger UI did not render (${error.message}); the page logged: ${pageErrors.join(' | ')}`));

    // Authorize: the x-user-id key, once for every operation.
    await page.locator('.auth-wrapper').getByRole('button', { name: 'Authorize' }).click();
    const dialog = page.locator('.dialog-ux .modal-ux');
    await dialog.getByText('x-user-id').first().waitFor();
    await dialog.locator('input[type="text"]').fill(USER_ID);
    await dialog.getByRole('button', { name: 'Apply credentials' }).click();
    await dialog.getByRole('heading', { name: 'Authorized' }).waitFor();
    await dialog.getByRole('button', { name: 'Close' }).click();

    // Create: the example body is a working, realistic schedule; give it its own name.
    const create = await openOperation(page, 'ScheduleController_create');
    const textarea = create.locator('textarea.body-param__text');
    const example = JSON.parse(await textarea.inputValue());
    assert.equal(example.cron_expression, '0 9 * * 1-5');
    assert.equal(example.timezone, 'Asia/Shanghai');
    assert.deepEqual(example.chat_model_config, {
      type: 'openai',
      credential_id: 'cred-1',
      model: 'gpt-4o',
      parameters: { temperature: 0.2 },
    });
    await textarea.fill(JSON.stringify({ ...example, name: 'Browser-made digest' }, null, 2));
    const created = await execute(create);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.match(created.curl, new RegExp(`x-user-id: ${USER_ID}`), 'the authorized identity is sent without being typed again');
    const scheduleId: string = created.body.schedule_id;
    assert.match(scheduleId, /^[0-9a-f-]{36}$/);

    // Fire it once now.
    const run = await openOperation(page, 'ScheduleController_run');
    await run.locator('tr[data-param-name="schedule_id"] input').fill(scheduleId);
    const fired = await execute(run);
    assert.equal(fired.status, 202, JSON.stringify(fired.body));
    assert.equal(fired.body.run.trigger, 'manual');
    assert.equal(fired.body.run.status, 'succeeded');

    // List its sessions: the one the fire created, the caller's, with the schedule's task.
    const list = await openOperation(page, 'ScheduleController_listSessions');
    await list.locator('tr[data-param-name="schedule_id"] input').fill(scheduleId);
    const sessions = await execute(list);
    assert.equal(sessions.status, 200, JSON.stringify(sessions.body));
    assert.equal(sessions.body.total, 1);
    assert.equal(sessions.body.sessions[0].id, fired.body.session_id);
    assert.equal(sessions.body.sessions[0].user_id, USER_ID);
    assert.equal(sessions.body.sessions[0].config.name, 'Browser-made digest');

    assert.deepEqual(pageErrors, [], 'the page logged no errors (a blocked script, style or request shows here)');
  }, 30_000);
});
