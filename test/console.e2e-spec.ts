import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { exportSPKI, generateKeyPair, SignJWT } from 'jose';
import type { Browser, Page } from 'playwright-core';
import request from 'supertest';
import { JWT_ASYMMETRIC_ALGORITHMS } from '../src/config/app-config.js';
import { DispatcherService } from '../src/dispatch/dispatcher.service.js';
import { aCreateBody } from './support/builders.js';
import {
  assertAccessible,
  assertKeyboardReachable,
  browserSkipReason,
  type InPage,
  launchChromium,
  tabTo,
  WatchedPage,
  withFailureScreenshot,
} from './support/browser.js';
import { type ExampleRuntimeRig, startExampleRuntime, waitFor } from './support/example-runtime.js';
import { createTestApp, type TestApp } from './support/test-app.js';

/*
 * The web console (/console) in Debian's chromium, driven by playwright-core, against the real
 * service on SQLite with the example agent runtime taking its fires: a user signs in, creates a
 * schedule through the form (a bad cron refused on its field), fires it, sees the run and its
 * session, and pauses it with a note; in jwt mode, signs in with a token. Every page is checked
 * with axe-core and walked with the keyboard; any console error, failed request or CSP violation
 * fails the test, which leaves a screenshot under test-results/browser/ when it fails.
 *
 * With CONSOLE_SCREENSHOTS=write (npm run screenshots) it also writes the README's pictures of each
 * page to docs/console/. The service's clock and the browser's are the same fixed instant, so the
 * pictures show the same times on every run.
 */

const NOW = '2026-12-07T00:30:00.000Z';
const USER_ID = 'alice@example.com';
const SCREENSHOTS = resolve(import.meta.dirname, '..', 'docs', 'console');
const WRITE_SCREENSHOTS = process.env.CONSOLE_SCREENSHOTS === 'write';

/** The README's picture of a page, when asked for. */
async function picture(page: Page, name: string): Promise<void> {
  if (!WRITE_SCREENSHOTS) return;
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.evaluate(() => (globalThis as unknown as InPage).document.activeElement?.blur());
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** The page's accessibility and keyboard checks, together. */
async function assertUsable(page: Page, what: string): Promise<void> {
  await assertAccessible(page, what);
  await assertKeyboardReachable(page, what);
}

describe('the web console in a browser', () => {
  const skip = browserSkipReason();
  if (skip) {
    it.skip(`skipped: ${skip}`, () => undefined);
    return;
  }

  let browser: Browser;
  beforeAll(async () => {
    browser = await launchChromium();
  }, 30_000);
  afterAll(async () => {
    await browser?.close();
  });

  describe('in header mode, with an agent runtime taking the fires', () => {
    let rig: ExampleRuntimeRig;
    let base: string;
    const api = () => request(rig.service.app.getHttpServer());

    beforeAll(async () => {
      rig = await startExampleRuntime(process.execPath, ['examples/agent-runtime.mjs']);
      rig.service.clock.set(NOW);
      base = `http://127.0.0.1:${(rig.service.app.getHttpServer().address() as AddressInfo).port}`;
    }, 30_000);
    afterAll(async () => {
      await rig?.stop();
    });

    /**
     * A second schedule with a week behind it: a fire a day, each answered by the runtime, every
     * third one failing as a runtime reports a failure; the clocks then back at NOW.
     */
    async function aWeekOfTriage(): Promise<string> {
      const body = aCreateBody({ name: 'Hourly inbox triage', cron_expression: '0 * * * *', timezone: 'Europe/Berlin', labels: { team: 'support' }, budget: { period: 'day', max_runs: 24 } });
      const scheduleId: string = (await api().post('/schedule').set('x-user-id', USER_ID).send(body).expect(201)).body.schedule_id;
      for (let day = 6; day >= 1; day -= 1) {
        rig.service.clock.set(new Date(Date.parse(NOW) - day * 86_400_000 + 3_600_000));
        const fired = (await api().post(`/schedule/${scheduleId}/run`).set('x-user-id', USER_ID).expect(202)).body;
        // The runtime takes a while over each (the service's clock stands still otherwise).
        rig.service.clock.advance(20_000 + day * 7_000);
        if (day % 3 === 0) {
          await api()
            .post(`/runtime/runs/${fired.run.id}/status`)
            .set('authorization', `Bearer ${rig.runtimeToken}`)
            .send({ status: 'failed', error: 'The model provider answered 429: quota exceeded' })
            .expect(200);
        }
        await rig.service.app.get(DispatcherService).drain();
        const path = `/schedule/${scheduleId}/runs/${fired.run.id}`;
        await waitFor('the run to end', async () => (await api().get(path).set('x-user-id', USER_ID)).body.status, (status) => status === 'succeeded' || status === 'failed');
      }
      rig.service.clock.set(NOW);
      return scheduleId;
    }

    it('signs in, creates a schedule through the form (a bad cron refused on its field), fires it, follows the run to its session, and pauses it with a note', async () => {
      const watched = await WatchedPage.open(browser, { timezoneId: 'Europe/Berlin' });
      const { page } = watched;
      await page.clock.setFixedTime(NOW);
      await withFailureScreenshot(page, 'console-header-mode', async () => {
        // Sign in, with the keyboard alone.
        await page.goto(`${base}/console`);
        await page.getByRole('heading', { name: 'Sign in' }).waitFor();
        assert.match(page.url(), /\/console\/$/, '/console redirects to /console/');
        await page.getByText('your user ID, sent as the x-user-id header').waitFor();
        await assertUsable(page, 'the sign-in page');
        await picture(page, 'sign-in');
        await tabTo(page, page.getByLabel('User ID'));
        await page.keyboard.type(USER_ID);
        await page.keyboard.press('Enter');
        await page.getByRole('heading', { name: 'Schedules' }).waitFor();
        await page.getByText('No schedules match.').waitFor();
        await page.getByText(`Signed in as ${USER_ID}`).waitFor();
        assert.deepEqual(
          await page.evaluate(() => {
            const { sessionStorage, localStorage, document } = globalThis as unknown as InPage;
            return [Object.keys(sessionStorage), localStorage.length, document.cookie];
          }),
          [['schedule-console.credentials'], 0, ''],
          'the user id is kept in the tab only',
        );

        // The form: a bad cron is refused by the API, and its message shows on the cron field.
        await page.getByRole('link', { name: 'New schedule' }).first().click();
        await page.getByRole('heading', { name: 'New schedule' }).waitFor();
        await page.getByLabel('Name').fill('Morning digest');
        await page.getByLabel('Agent').fill('agent-digest');
        await page.getByLabel('Task').fill('Summarise the overnight tickets');
        await page.getByLabel('Credential').fill('cred-1');
        await page.getByLabel('Time zone').fill('Asia/Shanghai');
        watched.expect({ status: 422, path: '/schedule/preview' }, { status: 422, path: '/schedule' });
        await page.getByLabel('Cron expression').fill('61 9 * * *');
        await page.getByRole('button', { name: 'Create schedule' }).click();
        const cronError = page.locator('#cron_expression-error');
        await cronError.waitFor();
        assert.match((await cronError.textContent()) ?? '', /cron_expression is not a valid cron expression/);
        const cron = page.getByLabel('Cron expression');
        assert.equal(await cron.getAttribute('aria-invalid'), 'true');
        assert.match((await cron.getAttribute('aria-describedby')) ?? '', /cron_expression-error/);
        assert.ok(await cron.evaluate((element) => element === (globalThis as unknown as InPage).document.activeElement), 'the keyboard is taken to the refused field');
        assert.equal((await api().get('/schedule').set('x-user-id', USER_ID).expect(200)).body.total, 0, 'nothing was created');
        await assertUsable(page, 'the form showing an error');

        // Fixed: the live preview lists the next fire times in the schedule's zone, then the schedule is created.
        await cron.fill('0 9 * * 1-5');
        await cronError.waitFor({ state: 'detached' });
        assert.equal(await cron.getAttribute('aria-invalid'), 'false', 'a changed field drops what the API said of its old value');
        const preview = page.getByRole('region', { name: 'Next fire times' });
        await preview.getByText('At 09:00, Monday through Friday').waitFor();
        await preview.locator('li').nth(4).waitFor();
        assert.match((await preview.locator('li').first().textContent()) ?? '', /^7 Dec 2026, 09:00 GMT\+8 · 7 Dec 2026, 02:00 CET yours$/);
        await picture(page, 'new-schedule');
        await page.getByRole('button', { name: 'Create schedule' }).click();
        await page.getByRole('heading', { name: /^Morning digest/ }).waitFor();
        const [schedule] = (await api().get('/schedule').set('x-user-id', USER_ID).expect(200)).body.schedules;
        assert.equal(schedule.data.cron_expression, '0 9 * * 1-5');
        assert.equal(schedule.data.timezone, 'Asia/Shanghai');
        assert.equal(schedule.data.description, 'Summarise the overnight tickets');

        // Fire it now: the run appears, pending, until the runtime has it and reports back (a
        // minute later on the service's clock, so that the run has a duration to show).
        rig.service.clock.set(new Date(Date.parse(NOW) - 75_000));
        await page.getByRole('button', { name: 'Run now' }).click();
        const runDialog = page.getByRole('dialog', { name: 'Run now' });
        await assertAccessible(page, 'the run-now dialog');
        await runDialog.getByRole('button', { name: 'Run now' }).click();
        await page.getByRole('status').getByText('Fired now: the run is pending.').waitFor();
        const runs = page.getByRole('table', { name: /Runs of Morning digest/ });
        await runs.getByText('pending').waitFor();
        rig.service.clock.set(NOW);
        await rig.service.app.get(DispatcherService).drain();
        const path = `/schedule/${schedule.id}/runs`;
        await waitFor('the runtime to report', async () => (await api().get(path).set('x-user-id', USER_ID)).body.runs[0]?.status, (status) => status === 'succeeded');
        await page.reload();
        await runs.getByText('succeeded').waitFor();
        await assertUsable(page, 'the schedule page');

        // The run: its delivery attempt, its usage, and the session it created with the agent's answer.
        await runs.getByRole('link').first().click();
        await page.getByRole('heading', { name: 'Delivery attempts' }).waitFor();
        assert.equal(await page.getByRole('table', { name: /Attempts to hand the run/ }).locator('tbody tr td').nth(1).textContent(), '202');
        const messages = page.getByRole('list', { name: 'Messages' });
        await messages.getByText('Done: Summarise the overnight tickets').waitFor();
        await messages.getByText('<scheduled-task>').waitFor();
        await page.getByText(/input and \d+ output tokens/).waitFor();
        await assertUsable(page, 'the run page');
        await picture(page, 'run');

        // Pause it with a note, from the keyboard: the reason and the note show.
        await page.getByRole('link', { name: 'Morning digest' }).click();
        await page.getByRole('heading', { name: /^Morning digest/ }).waitFor();
        await tabTo(page, page.getByRole('button', { name: 'Pause' }));
        await page.keyboard.press('Enter');
        const pauseDialog = page.getByRole('dialog', { name: 'Pause this schedule' });
        await pauseDialog.getByLabel('Note (why, until when)').waitFor();
        assert.ok(await pauseDialog.getByLabel('Note (why, until when)').evaluate((element) => element === (globalThis as unknown as InPage).document.activeElement), 'the dialog takes the focus');
        await assertAccessible(page, 'the pause dialog');
        await page.keyboard.type('Holiday freeze until 4 January');
        await tabTo(page, pauseDialog.getByRole('button', { name: 'Pause' }));
        await page.keyboard.press('Enter');
        await page.getByRole('status').getByText('Paused.').waitFor();
        await page.getByText('paused by a user').first().waitFor();
        await page.getByText('Note: Holiday freeze until 4 January').waitFor();
        await page.getByRole('button', { name: 'Resume' }).waitFor();
        const paused = (await api().get(`/schedule/${schedule.id}`).set('x-user-id', USER_ID).expect(200)).body;
        assert.equal(paused.data.enabled, false);
        assert.equal(paused.data.paused_reason, 'user');
        assert.equal(paused.data.pause_note, 'Holiday freeze until 4 January');
        await page.getByText('None planned while it is paused.').waitFor();
        await assertUsable(page, 'the paused schedule page');

        // The list: a second schedule with a budget and labels beside it, as an operator sees them.
        const triageId = await aWeekOfTriage();
        await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Schedules' }).click();
        const table = page.getByRole('table', { name: 'Schedules, newest first' });
        await table.getByText('Hourly inbox triage').waitFor();
        await table.getByText('0/24 runs this day').waitFor();
        const digestRow = table.getByRole('row', { name: /Morning digest/ });
        await digestRow.getByText('Paused', { exact: true }).waitFor();
        await digestRow.getByText('paused by a user').waitFor();
        await digestRow.getByText('“Holiday freeze until 4 January”').waitFor();
        assert.equal(await digestRow.getByRole('img').getAttribute('aria-label'), 'Last 24 hours: 1 succeeded, 0 failed, 0 other');
        await assertUsable(page, 'the schedule list');
        await picture(page, 'schedules');

        // The filters ask the API: only the paused one, then only the support team's.
        await page.getByLabel('Status').selectOption('paused');
        await page.getByRole('button', { name: 'Filter' }).click();
        await page.getByText('1 schedule', { exact: true }).waitFor();
        assert.equal(await table.getByRole('row').count(), 2);
        await table.getByText('Morning digest').waitFor();
        await page.getByLabel('Status').selectOption('');
        await page.getByLabel('Labels').fill('team=support');
        await page.getByRole('button', { name: 'Filter' }).click();
        await page.getByText('1 schedule', { exact: true }).waitFor();
        await table.getByText('Hourly inbox triage').waitFor();

        // Edit the other one: the form starts from what it is, and the change shows.
        await table.getByRole('link', { name: 'Hourly inbox triage' }).click();
        await page.getByRole('heading', { name: /^Hourly inbox triage/ }).waitFor();
        await page.getByRole('link', { name: 'Edit' }).click();
        await page.getByRole('heading', { name: 'Edit “Hourly inbox triage”' }).waitFor();
        assert.equal(await page.getByLabel('Cron expression').inputValue(), '0 * * * *');
        assert.equal(await page.getByLabel('Time zone').inputValue(), 'Europe/Berlin');
        await page.getByLabel('Cron expression').fill('30 8-18 * * 1-5');
        await page.getByRole('region', { name: 'Next fire times' }).getByText('7 Dec 2026, 08:30 CET').waitFor();
        await assertUsable(page, 'the edit form');
        await page.getByRole('button', { name: 'Save changes' }).click();
        await page.getByText('At 30 minutes past the hour, between 08:00 and 18:59, Monday through Friday').waitFor();
        const edited = (await api().get(`/schedule/${triageId}`).set('x-user-id', USER_ID).expect(200)).body;
        assert.equal(edited.data.cron_expression, '30 8-18 * * 1-5');
        assert.deepEqual(edited.data.labels, { team: 'support' }, 'what the form did not change stays');
        assert.deepEqual(edited.data.budget, { period: 'day', max_runs: 24, max_tokens: null, max_cost_usd: null });

        // Skip its next fire time on the timeline, and see it marked.
        const upcoming = page.getByRole('list').filter({ has: page.getByRole('button', { name: /^Skip the fire at/ }) });
        await upcoming.getByRole('button', { name: 'Skip the fire at 7 Dec 2026, 08:30 CET' }).click();
        await page.getByRole('status').getByText('That fire time will be skipped.').waitFor();
        await upcoming.getByRole('button', { name: 'Restore the fire at 7 Dec 2026, 08:30 CET' }).waitFor();
        await upcoming.locator('li.skipped').getByText('Skipped').waitFor();
        const skipped = (await api().get(`/schedule/${triageId}`).set('x-user-id', USER_ID).expect(200)).body;
        assert.deepEqual(skipped.data.skipped_fire_times, ['2026-12-07T07:30:00.000Z']);
        // An edit of the task alone sends the task alone: the skip stays, and If-Match carries the version read.
        const patches: Array<{ body: unknown; ifMatch: string | undefined }> = [];
        page.on('request', (sent) => {
          if (sent.method() === 'PATCH') patches.push({ body: sent.postDataJSON(), ifMatch: sent.headers()['if-match'] });
        });
        const version = (await api().get(`/schedule/${triageId}`).set('x-user-id', USER_ID).expect(200)).headers.etag;
        await page.getByRole('link', { name: 'Edit' }).click();
        await page.getByLabel('Task').fill('Sort the support inbox by urgency');
        await page.getByRole('button', { name: 'Save changes' }).click();
        await page.getByRole('heading', { name: /^Hourly inbox triage/ }).waitFor();
        await upcoming.locator('li.skipped').getByText('Skipped').waitFor();
        assert.deepEqual(patches.at(-1), { body: { description: 'Sort the support inbox by urgency' }, ifMatch: version });
        const described = (await api().get(`/schedule/${triageId}`).set('x-user-id', USER_ID).expect(200)).body;
        assert.deepEqual(described.data.skipped_fire_times, ['2026-12-07T07:30:00.000Z']);
        const outcomes = page.getByRole('figure');
        await outcomes.getByText('Succeeded: 4').waitFor();
        await outcomes.getByText('Failed or timed out: 2').waitFor();
        await page.getByRole('table', { name: /Runs of Hourly inbox triage/ }).getByText('The model provider answered 429: quota exceeded').first().waitFor();
        await assertUsable(page, 'a schedule with a week of runs');
        await picture(page, 'schedule');
        watched.assertNoProblems();
      });
      await watched.close();
    }, 60_000);

    it('refuses an edit over a change made meanwhile, asks before it deletes, and a schedule deleted elsewhere is a clear miss', async () => {
      const created = await api().post('/schedule').set('x-user-id', USER_ID).send(aCreateBody({ name: 'Short-lived' })).expect(201);
      const watched = await WatchedPage.open(browser);
      const { page } = watched;
      await withFailureScreenshot(page, 'console-delete', async () => {
        // Straight to the schedule's address: the sign-in page, then the page asked for.
        await page.goto(`${base}/console/#/schedules/${created.body.schedule_id}`);
        await page.getByLabel('User ID').fill(USER_ID);
        await page.getByRole('button', { name: 'Sign in' }).click();
        await page.getByRole('heading', { name: /^Short-lived/ }).waitFor();

        // An edit that crosses a change made meanwhile is refused (If-Match), and the form says why.
        await page.getByRole('link', { name: 'Edit' }).click();
        await page.getByLabel('Name').fill('Short-lived, renamed here');
        await api().patch(`/schedule/${created.body.schedule_id}`).set('x-user-id', USER_ID).send({ description: 'changed elsewhere' }).expect(200);
        watched.expect({ status: 412, path: `/schedule/${created.body.schedule_id}` });
        await page.getByRole('button', { name: 'Save changes' }).click();
        await page.getByRole('alert').getByText('The schedule changed since this form was opened').waitFor();
        assert.equal((await api().get(`/schedule/${created.body.schedule_id}`).set('x-user-id', USER_ID).expect(200)).body.data.name, 'Short-lived');
        await page.getByRole('link', { name: 'Cancel' }).click();
        await page.getByRole('heading', { name: /^Short-lived/ }).waitFor();

        await page.getByRole('button', { name: 'Delete' }).click();
        const dialog = page.getByRole('dialog', { name: 'Delete this schedule' });
        await dialog.getByText('This cannot be undone.').waitFor();
        await dialog.getByRole('button', { name: 'Cancel' }).click();
        await api().get(`/schedule/${created.body.schedule_id}`).set('x-user-id', USER_ID).expect(200);
        await page.getByRole('button', { name: 'Delete' }).click();
        await dialog.getByRole('button', { name: 'Delete' }).click();
        await page.getByRole('heading', { name: 'Schedules' }).waitFor();
        await api().get(`/schedule/${created.body.schedule_id}`).set('x-user-id', USER_ID).expect(404);
        // Its address now: the API's 404, said on the page.
        watched.expect({ status: 404, path: `/schedule/${created.body.schedule_id}` }, { status: 404, path: `/schedule/${created.body.schedule_id}/next-runs` });
        await page.goto(`${base}/console/#/schedules/${created.body.schedule_id}`);
        await page.getByRole('alert').getByText(`Schedule ${created.body.schedule_id} not found`).waitFor();
        watched.assertNoProblems();
      });
      await watched.close();
    }, 30_000);
  });

  describe('in jwt mode', () => {
    let service: TestApp;
    let base: string;
    let sign: (subject: string) => Promise<string>;

    beforeAll(async () => {
      const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
      const issuer = 'https://issuer.example.test/';
      const audience = 'schedule-service';
      sign = (subject) =>
        new SignJWT({ sub: subject }).setProtectedHeader({ alg: 'ES256', typ: 'JWT' }).setIssuer(issuer).setAudience(audience).setIssuedAt().setExpirationTime('5m').sign(privateKey);
      service = await createTestApp('sqlite', {
        auth: {
          mode: 'jwt',
          jwt: {
            jwksUrl: null,
            publicKey: await exportSPKI(publicKey),
            secret: null,
            algorithms: [...JWT_ASYMMETRIC_ALGORITHMS],
            issuer,
            audience,
            userClaim: 'sub',
            clockToleranceSeconds: 30,
          },
        },
      });
      await service.app.listen(0, '127.0.0.1');
      base = `http://127.0.0.1:${(service.app.getHttpServer().address() as AddressInfo).port}`;
    }, 30_000);
    afterAll(async () => {
      await service?.close();
    });

    it('signs in with a bearer token (a forged one is refused on the page) and sees only that user’s schedules', async () => {
      const token = await sign('carol');
      const asCarol = (body: Record<string, unknown>) => request(service.app.getHttpServer()).post('/schedule').set('authorization', `Bearer ${token}`).send(aCreateBody(body)).expect(201);
      await asCarol({ name: 'Carol’s weekly report', cron_expression: '0 8 * * 1', timezone: 'Europe/Paris' });
      // The other two kinds, in words too: a one-off and an interval.
      await asCarol({ name: 'Carol’s launch reminder', cron_expression: null, at: '2026-04-01T09:00:00+02:00', timezone: 'Europe/Paris' });
      await asCarol({ name: 'Carol’s inbox sweep', cron_expression: null, every_seconds: 900 });
      await request(service.app.getHttpServer()).post('/schedule').set('authorization', `Bearer ${await sign('dave')}`).send(aCreateBody({ name: 'Dave’s' })).expect(201);
      const watched = await WatchedPage.open(browser);
      const { page } = watched;
      await withFailureScreenshot(page, 'console-jwt-mode', async () => {
        await page.goto(`${base}/console/`);
        await page.getByText('a bearer token (a JWT)').waitFor();
        const field = page.getByLabel('Bearer token');
        await assertUsable(page, 'the jwt sign-in page');

        watched.expect({ status: 401, path: '/schedule' });
        await field.fill(`${token.slice(0, -4)}AAAA`);
        await page.getByRole('button', { name: 'Sign in' }).click();
        await page.getByRole('alert').getByText('The bearer token is invalid or expired.').waitFor();

        await field.fill(token);
        await page.getByRole('button', { name: 'Sign in' }).click();
        await page.getByText('Signed in with a token').waitFor();
        const table = page.getByRole('table', { name: 'Schedules, newest first' });
        await table.getByRole('row', { name: /Carol’s weekly report/ }).getByText('At 08:00, only on Monday').waitFor();
        await table.getByRole('row', { name: /Carol’s launch reminder/ }).getByText('Once, at 1 Apr 2026, 09:00 CEST').waitFor();
        await table.getByRole('row', { name: /Carol’s inbox sweep/ }).getByText('Every 15 minutes').waitFor();
        assert.equal(await table.getByText('Dave’s').count(), 0, 'another user’s schedule is not shown');
        const kept = await page.evaluate(() => {
          const { sessionStorage, localStorage } = globalThis as unknown as InPage;
          return [JSON.parse(sessionStorage.getItem('schedule-console.credentials')!).mode, localStorage.length];
        });
        assert.deepEqual(kept, ['jwt', 0]);

        await page.getByRole('button', { name: 'Sign out' }).click();
        await page.getByRole('heading', { name: 'Sign in' }).waitFor();
        assert.equal(await page.evaluate(() => (globalThis as unknown as InPage).sessionStorage.length), 0, 'signing out forgets the token');
        watched.assertNoProblems();
      });
      await watched.close();
    }, 30_000);
  });
});
