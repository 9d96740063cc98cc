import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import request from 'supertest';
import { aCreateBody } from './support/builders.js';
import { createTestApp, describeOnEveryBackend, type TestApp } from './support/test-app.js';

const LISTED = 'https://app.example.com';
const UNLISTED = 'https://evil.example.net';

/** A Content-Security-Policy header as directive → sources. */
function parseCsp(header: string | undefined): Map<string, string[]> {
  assert.ok(header, 'no Content-Security-Policy');
  return new Map(
    header
      .split(';')
      .map((directive) => directive.trim().split(/\s+/))
      .filter(([name]) => name)
      .map(([name, ...sources]) => [name.toLowerCase(), sources]),
  );
}

/** The sources a directive allows, falling back to default-src as browsers do. */
function sourcesFor(csp: Map<string, string[]>, directive: string): string[] {
  return csp.get(directive) ?? csp.get('default-src') ?? [];
}

function assertNoCorsHeaders(res: request.Response): void {
  const cors = Object.keys(res.headers).filter((name) => name.startsWith('access-control-'));
  assert.deepEqual(cors, [], `CORS headers: ${JSON.stringify(res.headers)}`);
}

describe('security headers', () => {
  let testApp: TestApp;
  const http = () => request(testApp.app.getHttpServer());

  beforeAll(async () => {
    testApp = await createTestApp('memory');
  });
  afterAll(() => testApp?.close());

  it('are on every response: API answers, problems, unknown routes and the docs', async () => {
    for (const [where, res] of [
      ['an answer', await http().get('/schedule').set('x-user-id', 'alice').expect(200)],
      ['a problem', await http().get('/schedule').expect(401)],
      ['an unknown route', await http().get('/nowhere').expect(404)],
      ['the docs', await http().get('/docs').expect(200)],
    ] as const) {
      assert.equal(res.headers['x-content-type-options'], 'nosniff', where);
      assert.equal(res.headers['x-frame-options'], 'DENY', where);
      assert.equal(res.headers['referrer-policy'], 'no-referrer', where);
      assert.match(res.headers['strict-transport-security'], /max-age=\d+/, where);
      assert.equal(res.headers['cross-origin-opener-policy'], 'same-origin', where);
      const csp = parseCsp(res.headers['content-security-policy']);
      assert.deepEqual(csp.get('default-src'), ["'self'"], where);
      assert.deepEqual(csp.get('object-src'), ["'none'"], where);
      assert.deepEqual(csp.get('frame-ancestors'), ["'none'"], where);
      // No banner: nothing says what serves the API.
      assert.equal(res.headers['x-powered-by'], undefined, where);
      assert.equal(res.headers.server, undefined, where);
    }
  });

  it('allow what the Swagger UI page loads, and no inline script', async () => {
    const page = await http().get('/docs').expect(200);
    const csp = parseCsp(page.headers['content-security-policy']);
    const html = page.text;
    const origin = 'http://service.test';
    const base = new URL('/docs', origin);
    const sameOrigin = (ref: string) => new URL(ref, base).origin === origin;

    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)];
    assert.ok(scripts.length > 0);
    for (const [, attributes, body] of scripts) {
      const src = /\bsrc="([^"]+)"/.exec(attributes)?.[1];
      assert.ok(src, `an inline script, which script-src forbids: ${body.slice(0, 80)}`);
      assert.ok(sameOrigin(src), src);
      assert.ok(sourcesFor(csp, 'script-src').includes("'self'"));
      // What the page needs must be there: every script answers.
      await http().get(new URL(src, base).pathname).expect(200);
    }
    assert.doesNotMatch(html, /\son[a-z]+\s*=/i, 'an inline event handler, which script-src-attr forbids');

    const links = [...html.matchAll(/<link\b[^>]*\bhref="([^"]+)"[^>]*>/gi)].map((match) => match[1]);
    assert.ok(links.length > 0);
    for (const href of links) {
      assert.ok(sameOrigin(href), href);
      await http().get(new URL(href, base).pathname).expect(200);
    }
    assert.ok(sourcesFor(csp, 'style-src').includes("'self'"));
    if (/<style\b/i.test(html) || /\sstyle="/i.test(html)) assert.ok(sourcesFor(csp, 'style-src').includes("'unsafe-inline'"));
    assert.ok(sourcesFor(csp, 'img-src').includes("'self'"));

    // The stylesheet's icons are data: URLs; "Try it out" calls the API on the same origin.
    const stylesheet = links.find((href) => href.endsWith('.css'))!;
    const css = (await http().get(new URL(stylesheet, base).pathname).expect(200)).text;
    if (/url\(\s*["']?data:/.test(css)) assert.ok(sourcesFor(csp, 'img-src').includes('data:'));
    assert.deepEqual(sourcesFor(csp, 'connect-src'), ["'self'"]);
  });

  it('answers no CORS at all when CORS_ORIGINS is empty', async () => {
    const preflight = await http()
      .options('/schedule')
      .set('origin', LISTED)
      .set('access-control-request-method', 'POST')
      .set('access-control-request-headers', 'content-type,x-user-id');
    assertNoCorsHeaders(preflight);
    assertNoCorsHeaders(await http().get('/schedule').set('origin', LISTED).set('x-user-id', 'alice').expect(200));
  });
});

describe('CORS with CORS_ORIGINS', () => {
  let testApp: TestApp;
  const http = () => request(testApp.app.getHttpServer());

  beforeAll(async () => {
    testApp = await createTestApp('memory', { corsOrigins: [LISTED, 'http://localhost:5173'] });
  });
  afterAll(() => testApp?.close());

  it('allows a listed origin the methods and headers the API uses', async () => {
    const preflight = await http()
      .options('/schedule/some-id')
      .set('origin', LISTED)
      .set('access-control-request-method', 'PATCH')
      .set('access-control-request-headers', 'content-type,x-user-id,authorization,if-match,x-request-id');
    assert.ok(preflight.status === 204 || preflight.status === 200, String(preflight.status));
    assert.equal(preflight.headers['access-control-allow-origin'], LISTED);
    const methods = preflight.headers['access-control-allow-methods'].split(/,\s*/);
    for (const method of ['GET', 'POST', 'PATCH', 'DELETE']) assert.ok(methods.includes(method), method);
    const headers = preflight.headers['access-control-allow-headers'].toLowerCase().split(/,\s*/);
    for (const header of ['content-type', 'x-user-id', 'authorization', 'if-match', 'x-request-id']) assert.ok(headers.includes(header), header);
    assert.equal(preflight.headers['access-control-allow-credentials'], undefined);
    assert.match(preflight.headers.vary, /origin/i);

    const created = await http().post('/schedule').set('origin', LISTED).set('x-user-id', 'alice').send(aCreateBody()).expect(201);
    assert.equal(created.headers['access-control-allow-origin'], LISTED);
    const read = await http().get(`/schedule/${created.body.schedule_id}`).set('origin', 'http://localhost:5173').set('x-user-id', 'alice').expect(200);
    assert.equal(read.headers['access-control-allow-origin'], 'http://localhost:5173');
    const exposed = read.headers['access-control-expose-headers'].toLowerCase().split(/,\s*/);
    for (const header of ['etag', 'retry-after', 'x-request-id', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset']) {
      assert.ok(exposed.includes(header), header);
    }
  });

  it('does not allow another origin', async () => {
    const preflight = await http()
      .options('/schedule')
      .set('origin', UNLISTED)
      .set('access-control-request-method', 'POST')
      .set('access-control-request-headers', 'content-type,x-user-id');
    assert.equal(preflight.headers['access-control-allow-origin'], undefined);
    const res = await http().get('/schedule').set('origin', UNLISTED).set('x-user-id', 'alice').expect(200);
    assert.equal(res.headers['access-control-allow-origin'], undefined);
    // A listed origin's prefix, or one with the listed one as a prefix, is another origin.
    for (const origin of ['https://app.example.com.evil.net', 'https://app.example.co', 'http://app.example.com']) {
      const other = await http().get('/schedule').set('origin', origin).set('x-user-id', 'alice').expect(200);
      assert.equal(other.headers['access-control-allow-origin'], undefined, origin);
    }
  });
});

describeOnEveryBackend('POST /schedule/{id}/run with an empty JSON body', (backend) => {
  const http = () => request(backend.app.getHttpServer());

  it('is accepted, as Swagger UI and many clients send it', async () => {
    const created = await http().post('/schedule').set('x-user-id', 'alice').send(aCreateBody()).expect(201);
    const runUrl = `/schedule/${created.body.schedule_id}/run`;
    // No body at all, and an empty one declared as JSON (Content-Length: 0).
    await http().post(runUrl).set('x-user-id', 'alice').expect(202);
    const res = await http().post(runUrl).set('x-user-id', 'alice').set('content-type', 'application/json').send('').expect(202);
    assert.equal(typeof res.body.session_id, 'string');
    // A body that is only whitespace is not JSON.
    await http().post(runUrl).set('x-user-id', 'alice').set('content-type', 'application/json').send(' ').expect(400);
  });
});
