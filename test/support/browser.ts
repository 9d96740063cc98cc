import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { type Browser, type BrowserContextOptions, chromium, type Locator, type Page } from 'playwright-core';

/**
 * The page as page.evaluate() callbacks see it. The project compiles without the DOM's types
 * (they clash with Node's), so a callback reaches the page's globals through this much, as
 * `(globalThis as unknown as InPage).document`: the cast is erased before the callback is sent.
 */
export interface PageElement {
  readonly tagName: string;
  readonly type?: string;
  readonly checked?: boolean;
  readonly disabled?: boolean;
  readonly tabIndex: number;
  readonly outerHTML: string;
  checkVisibility(): boolean;
  getAttribute(name: string): string | null;
  setAttribute(name: string, value: string): void;
  removeAttribute(name: string): void;
  blur(): void;
}
export interface InPage {
  document: {
    readonly activeElement: PageElement | null;
    readonly cookie: string;
    querySelectorAll(selectors: string): Iterable<PageElement>;
    addEventListener(type: 'securitypolicyviolation', listener: (event: { effectiveDirective: string; blockedURI: string }) => void): void;
  };
  sessionStorage: { readonly length: number; getItem(key: string): string | null } & Record<string, unknown>;
  localStorage: { readonly length: number };
  axe: { run(context: unknown, options: object): Promise<{ violations: AxeViolation[] }> };
}

/** Debian's chromium, which playwright-core drives (no browser download here). */
export const CHROMIUM = '/usr/bin/chromium';

/** Where a failing browser test leaves its screenshot. */
export const FAILURE_SCREENSHOTS = resolve(import.meta.dirname, '..', '..', 'test-results', 'browser');

/** Why the browser tests cannot run here, if they cannot: outside CI a missing chromium skips them; under CI=true it is a failure. */
export function browserSkipReason(): string | undefined {
  if (existsSync(CHROMIUM) || process.env.CI === 'true') return undefined;
  return `${CHROMIUM} is missing (apt-get install chromium)`;
}

export async function launchChromium(): Promise<Browser> {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: CI=true needs Debian's chromium package (apt-get install chromium)`);
  // This machine's network is closed: without these, chromium's own background requests fail by the dozen.
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
  });
}

/** An answer the test provokes on purpose (a 422 for a bad field, a 401 for a bad token): not a problem. */
export interface ExpectedAnswer {
  status: number;
  path: string;
}

/**
 * A page whose every console error, uncaught exception, failed request, 4xx/5xx answer and
 * Content-Security-Policy violation is collected in `problems`, except the answers the test says
 * it expects.
 */
export class WatchedPage {
  readonly problems: string[] = [];
  private readonly expected: ExpectedAnswer[] = [];

  private constructor(readonly page: Page) {}

  static async open(browser: Browser, options: BrowserContextOptions = {}): Promise<WatchedPage> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: 'en-GB', ...options });
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    const watched = new WatchedPage(page);
    // Chromium reports CSP violations on the console too; this names the directive either way.
    await page.addInitScript(() =>
      (globalThis as unknown as InPage).document.addEventListener('securitypolicyviolation', (event) =>
        console.error(`CSP violation: ${event.effectiveDirective} blocked ${event.blockedURI || 'inline code'}`),
      ),
    );
    page.on('console', (message) => {
      if (message.type() !== 'error') return;
      // Chromium logs each 4xx/5xx answer as "Failed to load resource"; those are judged by their answer below.
      if (message.text().startsWith('Failed to load resource: the server responded with a status of')) return;
      watched.problems.push(`console error: ${message.text()}`);
    });
    page.on('pageerror', (error) => watched.problems.push(`uncaught: ${error.message}`));
    page.on('requestfailed', (request) => watched.problems.push(`request failed: ${request.method()} ${request.url()} (${request.failure()?.errorText})`));
    page.on('response', (response) => {
      if (response.status() < 400) return;
      const path = new URL(response.url()).pathname;
      if (watched.expected.some((answer) => answer.status === response.status() && answer.path === path)) return;
      watched.problems.push(`answer: ${response.status()} ${response.request().method()} ${response.url()}`);
    });
    return watched;
  }

  /** Answers the test provokes from here on. */
  expect(...answers: ExpectedAnswer[]): void {
    this.expected.push(...answers);
  }

  assertNoProblems(): void {
    assert.deepEqual(this.problems, [], 'the page logged no errors, failed no request and broke no CSP directive');
  }

  async close(): Promise<void> {
    await this.page.context().close();
  }
}

/**
 * Runs `steps`; if they throw, saves a full-page screenshot under test-results/browser/ and names
 * it in the error, so that a failure in CI shows what the page looked like.
 */
export async function withFailureScreenshot(page: Page, name: string, steps: () => Promise<void>): Promise<void> {
  try {
    await steps();
  } catch (error) {
    mkdirSync(FAILURE_SCREENSHOTS, { recursive: true });
    const file = join(FAILURE_SCREENSHOTS, `${name.replace(/\W+/g, '-')}.png`);
    await page.screenshot({ path: file, fullPage: true }).catch(() => undefined);
    if (error instanceof Error) error.message += `\n(screenshot of the page: ${file})`;
    throw error;
  }
}

const AXE_SOURCE = readFileSync(join(dirname(createRequire(import.meta.url).resolve('axe-core')), 'axe.min.js'), 'utf8');

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: Array<{ target: unknown[] }>;
}

/**
 * axe-core's WCAG checks on the page as it is now: no serious or critical violation. axe is put
 * in through the debugging protocol, which the page's CSP does not govern, so the page's own
 * policy stays exactly as served.
 */
export async function assertAccessible(page: Page, what: string): Promise<void> {
  await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async () => {
    const { axe, document } = globalThis as unknown as InPage;
    return (await axe.run(document, { resultTypes: ['violations'] })).violations;
  });
  const grave = violations
    .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
    .map((violation) => `${violation.impact} ${violation.id}: ${violation.help} at ${violation.nodes.map((node) => node.target.join(' ')).join(', ')}`);
  assert.deepEqual(grave, [], `${what}: no serious or critical accessibility violation`);
}

/**
 * Tabs through the whole page and checks that every visible control (links, buttons, fields,
 * the summary of a closed section) takes the focus on the way: nothing needs a mouse.
 */
export async function assertKeyboardReachable(page: Page, what: string): Promise<void> {
  const count = await page.evaluate(() => {
    const { document } = globalThis as unknown as InPage;
    const controls = [...document.querySelectorAll('a[href], button, input, select, textarea, summary, [tabindex]')].filter(
      (element) =>
        element.checkVisibility() &&
        !element.disabled &&
        element.tabIndex >= 0 &&
        // A radio group is one tab stop: its checked radio (arrow keys move within it).
        !(element.tagName === 'INPUT' && element.type === 'radio' && !element.checked),
    );
    controls.forEach((element, index) => element.setAttribute('data-keyboard-check', String(index)));
    return controls.length;
  });
  await page.evaluate(() => (globalThis as unknown as InPage).document.activeElement?.blur());
  const reached = new Set<string>();
  for (let press = 0; press < count + 5 && reached.size < count; press += 1) {
    await page.keyboard.press('Tab');
    const mark = await page.evaluate(() => (globalThis as unknown as InPage).document.activeElement?.getAttribute('data-keyboard-check') ?? null);
    if (mark !== null) reached.add(mark);
  }
  const missed = await page.evaluate(
    (seen) =>
      [...(globalThis as unknown as InPage).document.querySelectorAll('[data-keyboard-check]')]
        .filter((element) => !seen.includes(element.getAttribute('data-keyboard-check')!))
        .map((element) => element.outerHTML.slice(0, 120)),
    [...reached],
  );
  await page.evaluate(() => {
    for (const element of (globalThis as unknown as InPage).document.querySelectorAll('[data-keyboard-check]')) element.removeAttribute('data-keyboard-check');
  });
  assert.deepEqual(missed, [], `${what}: every control is reachable with Tab`);
}

/** Presses Tab until `target` has the focus (at most 60 times), as a keyboard user gets there. */
export async function tabTo(page: Page, target: Locator): Promise<void> {
  for (let press = 0; press < 60; press += 1) {
    if (await target.evaluate((element) => element === (globalThis as unknown as InPage).document.activeElement)) return;
    await page.keyboard.press('Tab');
  }
  assert.fail(`Tab never reached ${target}`);
}
