import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, it, jest } from '@jest/globals';
import { load } from 'js-yaml';
import request from 'supertest';
import { v7 as uuidv7 } from 'uuid';
import { DISPATCH_DEFAULTS } from '../src/config/app-config.js';
import { DispatcherService } from '../src/dispatch/dispatcher.service.js';
import { SchedulerService } from '../src/firing/scheduler.service.js';
import { StorageLifecycle } from '../src/storage/ports/storage-lifecycle.js';
import { aCreateBody } from './support/builders.js';
import { aWebhookSecret } from './support/dispatch.js';
import { createTestApp, type TestApp } from './support/test-app.js';

/*
 * The alerting kit (deploy/prometheus, deploy/grafana) against promtool and against the service
 * itself: the rules load and pass their unit tests, the dashboard's queries parse, and every
 * metric they query is one the real app exposes, with samples, after real requests, fires and
 * deliveries. A renamed metric or label fails here instead of leaving an alert silently blind.
 */

const ROOT = resolve(import.meta.dirname, '..');
const ALERTS = 'deploy/prometheus/alerts.yml';
const ALERT_TESTS = 'deploy/prometheus/alerts.test.yml';
const DASHBOARD = 'deploy/grafana/dashboard.json';

/** Prometheus's own series, not the service's. */
const PROMETHEUS_SERIES = new Set(['up']);
/** Labels Prometheus adds to every scraped series. */
const TARGET_LABELS = new Set(['job', 'instance']);

// --- promtool ---------------------------------------------------------------------------------

interface PromtoolRun {
  code: number;
  output: string;
}

/** Runs promtool from the project root, `input` on its stdin; rejects only when it cannot be started. */
function promtool(args: string[], input = ''): Promise<PromtoolRun> {
  return new Promise((resolvePromise, reject) => {
    const child = execFile('promtool', args, { cwd: ROOT }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') return reject(error);
      resolvePromise({ code: error ? Number(error.code) : 0, output: `${stdout}${stderr}` });
    });
    child.stdin?.end(input);
  });
}

/**
 * Why the promtool checks are skipped in this run, or undefined when promtool runs. Under CI=true
 * a missing promtool throws instead: there it is a failure, not a skip.
 */
async function promtoolSkipReason(): Promise<string | undefined> {
  try {
    await promtool(['--version']);
    return undefined;
  } catch (error) {
    const reason = `promtool cannot be run (${(error as Error).message}); it comes with Debian's \`prometheus\` package`;
    if (process.env.CI === 'true') throw new Error(`${reason}; CI=true requires it`);
    return reason;
  }
}

const promtoolSkip = await promtoolSkipReason();
const withPromtool = (title: string, test: () => Promise<void>) =>
  promtoolSkip ? it.skip(`${title} (skipped: ${promtoolSkip})`, () => undefined) : it(title, test);

// --- PromQL -----------------------------------------------------------------------------------

/** A series selector in a query: its metric name and the labels its matchers name. */
interface Selector {
  metric: string;
  labels: string[];
}

// Strings, Grafana variables ($x, ${x}, [[x]]), numbers and durations (5m, 1h30m, 1e3), names,
// operators. Anything else is a character the reader does not know, and fails.
const PROMQL_TOKEN =
  /\s+|#[^\n]*|"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`|\$\{[^}]*\}|\$\w+|\[\[\w+\]\]|(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?[a-zA-Z\d]*|[a-zA-Z_:][a-zA-Z0-9_:]*|=~|!~|!=|==|<=|>=|[-+*/%^<>=(){}[\],@]/y;
const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
/** Keywords that take a parenthesised list of label names, which are not metrics. */
const LABEL_LIST_KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
const KEYWORDS = new Set([...LABEL_LIST_KEYWORDS, 'bool', 'offset', 'and', 'or', 'unless', 'atan2', 'inf', 'nan']);
/** A name followed by this is a function or an aggregation (`sum by (job) (…)`), not a metric. */
const isOperatorCall = (next: string | undefined) => next === '(' || next === 'by' || next === 'without';

function promqlTokens(query: string): string[] {
  const tokens: string[] = [];
  PROMQL_TOKEN.lastIndex = 0;
  while (PROMQL_TOKEN.lastIndex < query.length) {
    const at = PROMQL_TOKEN.lastIndex;
    const match = PROMQL_TOKEN.exec(query);
    if (!match) throw new Error(`cannot read the query at ${JSON.stringify(query.slice(at, at + 20))}: ${query}`);
    if (!/^\s|^#/.test(match[0])) tokens.push(match[0]);
  }
  return tokens;
}

/**
 * The series selectors of a PromQL query (Grafana's variables allowed). Not metric names: function
 * and aggregation names (a name followed by `(`), keywords, the label lists of by/without/on/
 * ignoring/group_*, label names inside `{…}`, strings, numbers and durations, range brackets.
 */
function selectorsOf(query: string): Selector[] {
  const tokens = promqlTokens(query);
  const selectors: Selector[] = [];
  /** The index just past the bracket that closes the one at `open`. */
  const skipBrackets = (open: number, close: string): number => {
    let i = open + 1;
    while (tokens[i] !== close) {
      if (i >= tokens.length) throw new Error(`unclosed ${tokens[open]}: ${query}`);
      i++;
    }
    return i + 1;
  };
  const matcherLabels = (open: number): { labels: string[]; end: number } => {
    const labels: string[] = [];
    const end = skipBrackets(open, '}');
    for (let i = open + 1; i < end - 1; i++) {
      if (NAME.test(tokens[i]) && ['=', '!=', '=~', '!~'].includes(tokens[i + 1])) labels.push(tokens[i]);
    }
    return { labels, end };
  };
  for (let i = 0; i < tokens.length; ) {
    const token = tokens[i];
    if (token === '[') {
      i = skipBrackets(i, ']');
    } else if (token === '{') {
      throw new Error(`a selector without a metric name cannot be checked: ${query}`);
    } else if (NAME.test(token) && LABEL_LIST_KEYWORDS.has(token.toLowerCase())) {
      i = tokens[i + 1] === '(' ? skipBrackets(i + 1, ')') : i + 1;
    } else if (NAME.test(token) && (KEYWORDS.has(token.toLowerCase()) || isOperatorCall(tokens[i + 1]))) {
      i++;
    } else if (NAME.test(token)) {
      const { labels, end } = tokens[i + 1] === '{' ? matcherLabels(i + 1) : { labels: [], end: i + 1 };
      selectors.push({ metric: token, labels });
      i = end;
    } else {
      i++;
    }
  }
  return selectors;
}

// --- the kit's files --------------------------------------------------------------------------

interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

interface AlertTests {
  rule_files: string[];
  tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts?: unknown[] }> }>;
}

interface DashboardPanel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  targets?: Array<{ expr: string; datasource?: { uid: string } }>;
}

interface Dashboard {
  schemaVersion: number;
  uid: string;
  panels: DashboardPanel[];
  templating: { list: Array<{ name: string; type: string; query: string | { query: string } }> };
}

const readText = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const alertRules = (): AlertRule[] =>
  (load(readText(ALERTS)) as { groups: Array<{ rules: AlertRule[] }> }).groups.flatMap((group) => group.rules);
const dashboard = (): Dashboard => JSON.parse(readText(DASHBOARD)) as Dashboard;

/** Each dashboard query, named by its panel: the panels' targets and the template variables' label_values(…). */
function dashboardQueries(board: Dashboard): Array<{ where: string; expr: string }> {
  const targets = board.panels.flatMap((panel) =>
    (panel.targets ?? []).map((target, n) => ({ where: `panel "${panel.title}" target ${n}`, expr: target.expr })),
  );
  const variables = board.templating.list
    .filter((variable) => variable.type === 'query')
    .map((variable) => {
      const query = typeof variable.query === 'string' ? variable.query : variable.query.query;
      const series = /^label_values\((.+),\s*[a-zA-Z_]\w*\)$/.exec(query);
      assert.ok(series, `variable ${variable.name}: not a label_values(series, label) query: ${query}`);
      return { where: `variable ${variable.name}`, expr: series[1] };
    });
  return [...targets, ...variables];
}

/** The query as Prometheus would get it from Grafana: the variables replaced by values of their kind. */
function withVariablesReplaced(expr: string): string {
  return expr.replaceAll('$__rate_interval', '1m').replaceAll('$job', 'schedule-service').replaceAll('$instance', '.+');
}

// --- the exposition ---------------------------------------------------------------------------

interface Scrape {
  /** Metric family name → its TYPE. */
  types: Map<string, string>;
  /** Sample name → the label names its samples carry. */
  samples: Map<string, Set<string>>;
  /** Each sample's name and labels, for looking up one series. */
  series: Array<{ name: string; labels: Record<string, string> }>;
}

function parseScrape(text: string): Scrape {
  const scrape: Scrape = { types: new Map(), samples: new Map(), series: [] };
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) scrape.types.set(type[1], type[2]);
    if (line === '' || line.startsWith('#')) continue;
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? \S+$/.exec(line);
    assert.ok(sample, `not a sample line: ${line}`);
    const labels = Object.fromEntries([...(sample[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    const names = scrape.samples.get(sample[1]) ?? new Set<string>();
    for (const label of Object.keys(labels)) names.add(label);
    scrape.samples.set(sample[1], names);
    scrape.series.push({ name: sample[1], labels });
  }
  return scrape;
}

/** What is wrong with a selector against the scrape: an unknown metric, one without samples, a label its series lack. */
function selectorProblems({ metric, labels }: Selector, scrape: Scrape): string[] {
  if (PROMETHEUS_SERIES.has(metric)) return [];
  const suffix = /_(bucket|sum|count)$/.exec(metric);
  const family = scrape.types.has(metric) ? metric : suffix ? metric.slice(0, -suffix[0].length) : metric;
  const type = scrape.types.get(family);
  if (type === undefined) return [`${metric}: no such metric`];
  if (family !== metric && type !== 'histogram' && !(type === 'summary' && suffix?.[1] !== 'bucket')) {
    return [`${metric}: ${family} is a ${type}, not a histogram`];
  }
  const carried = scrape.samples.get(metric);
  if (!carried) return [`${metric}: no samples`];
  return labels.filter((label) => !TARGET_LABELS.has(label) && !carried.has(label)).map((label) => `${metric}: no label ${label}`);
}

// --- the tests --------------------------------------------------------------------------------

describe('the PromQL reader of this check', () => {
  it('finds each series selector and the labels its matchers name, and nothing else', () => {
    const query =
      'histogram_quantile(0.99, sum by (job, le) (rate(a_bucket{job="x", route=~"/health|b{c}"}[5m] offset 1h30m))) > 5\n' +
      '  and on (instance) group_left (pod) sum(rate(b_total{status_code!="503"}[$__rate_interval])) without (le) / c\n' +
      '  or label_replace(d, "dst", "${1}xx", "src", "(.)") unless absent(up{job="$job"}) > bool Inf';
    assert.deepEqual(selectorsOf(query), [
      { metric: 'a_bucket', labels: ['job', 'route'] },
      { metric: 'b_total', labels: ['status_code'] },
      { metric: 'c', labels: [] },
      { metric: 'd', labels: [] },
      { metric: 'up', labels: ['job'] },
    ]);
    assert.deepEqual(selectorsOf('max without (instance) (e) + count(f) by (job)'), [
      { metric: 'e', labels: [] },
      { metric: 'f', labels: [] },
    ]);
    assert.throws(() => selectorsOf('rate({__name__="x"}[5m])'), /without a metric name/);
    assert.throws(() => selectorsOf('rate(x[5m]) ; y'), /cannot read/);
  });

  it('judges selectors against a scrape: unknown names, histogram suffixes, missing samples and labels', () => {
    const scrape = parseScrape(
      [
        '# TYPE h histogram',
        'h_bucket{le="1",route="/a"} 1',
        'h_count{route="/a"} 1',
        '# TYPE g gauge',
        'g 0',
        '# TYPE c counter',
        '',
      ].join('\n'),
    );
    const problems = (metric: string, labels: string[] = []) => selectorProblems({ metric, labels }, scrape);
    assert.deepEqual(problems('h_bucket', ['le', 'route', 'job']), []);
    assert.deepEqual(problems('h_count', ['instance']), []);
    assert.deepEqual(problems('up'), []);
    assert.deepEqual(problems('h_sum'), ['h_sum: no samples']);
    assert.deepEqual(problems('g_count'), ['g_count: g is a gauge, not a histogram']);
    assert.deepEqual(problems('c'), ['c: no samples']);
    assert.deepEqual(problems('nope'), ['nope: no such metric']);
    assert.deepEqual(problems('h_count', ['status_code']), ['h_count: no label status_code']);
  });
});

describe('the alerting rules', () => {
  it('give every alert a severity, summary, description and a one-line runbook, and select the job', () => {
    const rules = alertRules();
    assert.ok(rules.length >= 12, `${rules.length} alerts`);
    assert.equal(new Set(rules.map((rule) => rule.alert)).size, rules.length, 'alert names are unique');
    for (const rule of rules) {
      assert.match(rule.labels?.severity ?? '', /^(critical|warning)$/, `${rule.alert}: severity`);
      for (const annotation of ['summary', 'description', 'runbook']) {
        assert.ok((rule.annotations?.[annotation] ?? '').length > 20, `${rule.alert}: ${annotation}`);
      }
      assert.doesNotMatch(rule.annotations!.runbook, /\n/, `${rule.alert}: the runbook is one line`);
      for (const { metric } of selectorsOf(rule.expr)) {
        // Every selector names the job: without it a rule would mix in other services' series.
        assert.match(rule.expr, new RegExp(`${metric}\\{job="schedule-service"`), `${rule.alert}: ${metric} selects the job`);
      }
    }
  });

  it('has a unit test for every alert where it fires and one where it does not', () => {
    const rules = alertRules();
    const tests = load(readText(ALERT_TESTS)) as AlertTests;
    assert.deepEqual(tests.rule_files, ['alerts.yml']);
    const cases = tests.tests.flatMap((test) => test.alert_rule_test ?? []);
    const names = new Set(rules.map((rule) => rule.alert));
    assert.deepEqual(cases.filter((c) => !names.has(c.alertname)).map((c) => c.alertname), [], 'tests of alerts that do not exist');
    for (const name of names) {
      const own = cases.filter((c) => c.alertname === name);
      assert.ok(own.some((c) => (c.exp_alerts ?? []).length > 0), `${name}: no case where it fires`);
      assert.ok(own.some((c) => (c.exp_alerts ?? []).length === 0), `${name}: no case where it does not fire`);
    }
  });

  withPromtool('pass promtool check rules', async () => {
    const run = await promtool(['check', 'rules', ALERTS]);
    assert.equal(run.code, 0, run.output);
    assert.match(run.output, new RegExp(`SUCCESS: ${alertRules().length} rules found`));
  });

  withPromtool('pass their unit tests (promtool test rules)', async () => {
    const run = await promtool(['test', 'rules', ALERT_TESTS]);
    assert.equal(run.code, 0, run.output);
    assert.match(run.output, /SUCCESS/);
  });
});

describe('the Grafana dashboard', () => {
  it('is an importable dashboard whose queries all go to the data source variable', () => {
    const board = dashboard();
    assert.ok(board.schemaVersion >= 36 && board.schemaVersion <= 41, `schemaVersion ${board.schemaVersion}`);
    assert.equal(board.uid, 'schedule-service');
    const ids = board.panels.map((panel) => panel.id);
    assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
    const variables = new Set(board.templating.list.map((variable) => variable.name));
    assert.ok(board.templating.list.some((variable) => variable.name === 'datasource' && variable.type === 'datasource'));
    const graphs = board.panels.filter((panel) => panel.type !== 'row');
    assert.ok(graphs.length >= 14, `${graphs.length} panels`);
    for (const panel of graphs) {
      assert.equal(panel.datasource?.uid, '${datasource}', `panel "${panel.title}" data source`);
      assert.ok((panel.targets ?? []).length > 0, `panel "${panel.title}" has queries`);
      for (const target of panel.targets ?? []) {
        assert.equal(target.datasource?.uid, '${datasource}', `panel "${panel.title}" target data source`);
        for (const [, name] of target.expr.matchAll(/\$(?!__)(\w+)/g)) assert.ok(variables.has(name), `panel "${panel.title}": $${name} is not defined`);
      }
    }
  });

  withPromtool('has queries Prometheus parses (checked by promtool as recording rules)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'alerting-kit-'));
    try {
      const queries = dashboardQueries(dashboard());
      const rules = queries.map(({ expr }, n) => `      - record: dashboard:query_${n}\n        expr: ${JSON.stringify(withVariablesReplaced(expr))}`);
      writeFileSync(join(dir, 'dashboard-queries.yml'), `groups:\n  - name: dashboard\n    rules:\n${rules.join('\n')}\n`);
      const run = await promtool(['check', 'rules', join(dir, 'dashboard-queries.yml')]);
      assert.equal(run.code, 0, run.output);
      assert.match(run.output, new RegExp(`SUCCESS: ${queries.length} rules found`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the kit against the metrics of the real app', () => {
  let testApp: TestApp;
  let metricsText: string;
  /** The runtime's status for each webhook attempt, in turn. */
  let answers: number[] = [];
  // Retry-After keeps the retried run from coming due again within the same drain.
  const receiver: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(answers.shift() ?? 200, { 'retry-after': '60' }).end());
  });

  beforeAll(async () => {
    await new Promise<void>((resolvePromise) => receiver.listen(0, '127.0.0.1', resolvePromise));
    const port = (receiver.address() as AddressInfo).port;
    testApp = await createTestApp('memory', {
      // Delivered by drain() below, not by the dispatcher's own loop.
      dispatch: { ...DISPATCH_DEFAULTS, url: `http://127.0.0.1:${port}/runtime/webhook`, secret: aWebhookSecret(), enabled: false },
    });
    const { app, clock } = testApp;
    const http = () => request(app.getHttpServer());
    const userId = `user-${uuidv7()}`;

    // A cron fire, 3 s late by the clock: fires, fire lag, claims, the due backlog.
    clock.set('2026-03-02T08:10:00.000Z');
    await http().post('/schedule').set('x-user-id', userId).send(aCreateBody({ cron_expression: '0 * * * *', timezone: 'UTC' })).expect(201);
    clock.set('2026-03-02T09:00:03.000Z');
    assert.equal(await app.get(SchedulerService).tick(), 1);

    // Two manual fires, then one attempt per run: delivered, retry, gave-up.
    for (let i = 0; i < 2; i++) {
      const created = await http().post('/schedule').set('x-user-id', userId).send(aCreateBody({ overlap_policy: 'allow' })).expect(201);
      await http().post(`/schedule/${created.body.schedule_id}/run`).set('x-user-id', userId).expect(202);
    }
    answers = [200, 503, 400];
    assert.equal(await app.get(DispatcherService).drain(), 3);
    assert.deepEqual(answers, []);

    // A 404, and a readiness check that fails: the storage's ping stands in for a database that is down.
    await http().get(`/schedule/${uuidv7()}`).set('x-user-id', userId).expect(404);
    await http().get('/health/ready').expect(200);
    const ping = jest.spyOn(app.get(StorageLifecycle), 'ping').mockRejectedValueOnce(new Error('connect ECONNREFUSED'));
    await http().get('/health/ready').expect(503);
    ping.mockRestore();

    const scraped = await http().get('/metrics').expect(200);
    metricsText = scraped.text;
  });

  afterAll(async () => {
    await testApp?.close();
    receiver.closeAllConnections();
    await new Promise((resolvePromise) => receiver.close(resolvePromise));
  });

  it('records what the alerts select on: 503s of /health/ready, give-ups and retries', () => {
    const { series } = parseScrape(metricsText);
    const has = (name: string, labels: Record<string, string>) =>
      series.some((s) => s.name === name && Object.entries(labels).every(([key, value]) => s.labels[key] === value));
    assert.ok(has('http_request_duration_seconds_count', { route: '/health/ready', method: 'GET', status_code: '503' }));
    assert.ok(has('http_request_duration_seconds_count', { route: '/schedule/:schedule_id', status_code: '404' }));
    for (const outcome of ['delivered', 'retry', 'gave-up']) assert.ok(has('dispatch_attempts_total', { outcome }), outcome);
    assert.ok(has('schedule_fires_total', { trigger: 'cron', status: 'pending' }));
  });

  withPromtool('exposes metrics promtool check metrics finds nothing to say about', async () => {
    const run = await promtool(['check', 'metrics'], metricsText);
    assert.equal(run.output.trim(), '');
    assert.equal(run.code, 0);
  });

  it('exposes every metric and label the alerts query, with samples', () => {
    const scrape = parseScrape(metricsText);
    const problems = alertRules().flatMap((rule) =>
      selectorsOf(rule.expr).flatMap((selector) => selectorProblems(selector, scrape).map((problem) => `${rule.alert}: ${problem}`)),
    );
    assert.deepEqual(problems, []);
  });

  it('exposes every metric and label the dashboard queries, with samples', () => {
    const scrape = parseScrape(metricsText);
    const queries = dashboardQueries(dashboard());
    assert.ok(queries.length > 20, `${queries.length} queries`);
    const problems = queries.flatMap(({ where, expr }) =>
      selectorsOf(expr).flatMap((selector) => selectorProblems(selector, scrape).map((problem) => `${where}: ${problem}`)),
    );
    assert.deepEqual(problems, []);
  });
});
