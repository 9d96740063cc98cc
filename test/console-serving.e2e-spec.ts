import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import request from 'supertest';
import { consoleBuildDirectory } from '../src/console/console.js';
import { assertProblem } from './support/problem.js';
import { createTestApp, type TestApp } from './support/test-app.js';

/*
 * How the service serves the console's build (dist/console, made by `npm run build`, which
 * `npm test` runs first): the page and its assets under the same headers as every response, no
 * inline script for the CSP to refuse, caching by content hash, nothing outside the build, the
 * budget of gzipped JavaScript kept, and CONSOLE_ENABLED=false turning it all off.
 */

const BUILD = consoleBuildDirectory();

describe('the console’s files', () => {
  let testApp: TestApp;
  const http = () => request(testApp.app.getHttpServer());

  beforeAll(async () => {
    testApp = await createTestApp('memory');
  });
  afterAll(async () => {
    await testApp?.close();
  });

  it('redirects /console to /console/, whose page loads only its own built files, without inline script', async () => {
    const redirect = await http().get('/console').expect(301);
    assert.equal(redirect.headers.location, '/console/');
    const page = await http().get('/console/').expect(200);
    assert.match(page.headers['content-type'], /^text\/html/);
    assert.equal(page.headers['cache-control'], 'no-cache', 'the page is revalidated, so a new build shows at once');
    const docs = await http().get('/docs/').expect(200);
    assert.equal(page.headers['content-security-policy'], docs.headers['content-security-policy'], 'the same CSP as Swagger UI');
    assert.match(page.headers['content-security-policy'], /script-src 'self';/);
    assert.equal(page.headers['x-frame-options'], 'DENY');
    const scripts = [...page.text.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    assert.ok(scripts.length > 0);
    for (const [, attributes, body] of scripts) {
      assert.match(attributes, /src="\/console\/assets\/[\w-]+\.js"/);
      assert.equal(body.trim(), '', 'no inline script');
    }
    assert.doesNotMatch(page.text, /\bon\w+=/, 'no inline event handlers');
    assert.doesNotMatch(page.text, /https?:\/\//, 'nothing from another origin (no CDN)');
  });

  it('serves every built asset as immutable, and keeps its JavaScript within the 250 KB gzipped budget', async () => {
    const assets = readdirSync(join(BUILD, 'assets'));
    assert.ok(assets.some((name) => name.endsWith('.js')) && assets.some((name) => name.endsWith('.css')));
    let javascript = 0;
    for (const name of assets) {
      const res = await http().get(`/console/assets/${name}`).buffer(true).parse((response, done) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => done(null, Buffer.concat(chunks)));
      });
      assert.equal(res.status, 200, name);
      assert.equal(res.headers['cache-control'], 'public, max-age=31536000, immutable', name);
      assert.deepEqual(res.body, readFileSync(join(BUILD, 'assets', name)), name);
      if (name.endsWith('.js')) javascript += gzipSync(res.body, { level: 9 }).length;
    }
    assert.ok(javascript <= 250 * 1024, `${javascript} bytes of gzipped JavaScript`);
  });

  it('answers a missing file or a path out of the build with a problem, never a file from elsewhere', async () => {
    assertProblem(await http().get('/console/assets/nothing-here.js'), 404);
    for (const path of ['/console/..%2fpackage.json', '/console/%2e%2e/%2e%2e/package.json', '/console/assets/..%2f..%2f..%2fpackage.json']) {
      const res = await http().get(path);
      assert.ok([403, 404].includes(res.status), `${path}: ${res.status}`);
      assert.match(res.headers['content-type'], /^application\/problem\+json/, path);
    }
    assertProblem(await http().get('/console/.env'), 404);
  });

  it('is off with CONSOLE_ENABLED=false: /console is a 404 problem like any unknown path', async () => {
    const off = await createTestApp('memory', { consoleEnabled: false });
    try {
      assertProblem(await request(off.app.getHttpServer()).get('/console/'), 404);
      assertProblem(await request(off.app.getHttpServer()).get('/console'), 404);
      await request(off.app.getHttpServer()).get('/docs/').expect(200);
    } finally {
      await off.close();
    }
  });
});

describe('consoleBuildDirectory', () => {
  const root = mkdtempSync(join(tmpdir(), 'console-root-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('finds dist/console beside the nearest package.json, from the sources and from the compiled service alike', () => {
    writeFileSync(join(root, 'package.json'), '{}');
    mkdirSync(join(root, 'dist', 'src', 'console'), { recursive: true });
    mkdirSync(join(root, 'src', 'console'), { recursive: true });
    assert.equal(consoleBuildDirectory(join(root, 'dist', 'src', 'console')), join(root, 'dist', 'console'));
    assert.equal(consoleBuildDirectory(join(root, 'src', 'console')), join(root, 'dist', 'console'));
    assert.equal(BUILD, resolve(import.meta.dirname, '..', 'dist', 'console'));
  });
});
