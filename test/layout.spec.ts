import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';

/*
 * The floors of the layout (README "Layout"), checked on the source text so that an import that
 * breaks them fails here rather than in review:
 * - src/common/ sits at the bottom; src/domain/ and src/config/ just above it; src/storage/ on
 *   those three; every other folder (the features) on any of them, and on each other without a
 *   circle;
 * - a unit spec sits beside what it tests, named after it (`x.spec.ts` beside `x.ts` or the folder
 *   `x/`), and may use test/support/ and the storage contract; nothing else under src/ reaches
 *   into test/ (test code never ships); test/ holds the suites over the whole (`*.e2e-spec.ts`,
 *   the storage contract) and this check.
 */

const ROOT = resolve(import.meta.dirname, '..');

/** What each floor may import from src/, besides itself (anything else under src/ is above it). */
const FLOORS: Record<string, readonly string[]> = {
  common: [],
  domain: ['common'],
  config: ['common'],
  storage: ['common', 'domain', 'config'],
};

/** What a spec under src/ may use of test/: the support code, and the storage contract a backend's spec runs. */
const SPEC_TEST_CODE = ['test/support', 'test/storage/contract'];

/** The one spec under test/ that is not an e2e suite: this check of the whole tree. */
const TREE_SPEC = 'test/layout.spec.ts';

type LayoutRule = 'test-support' | 'floor' | 'cycle' | 'spec-placement';

interface LayoutViolation {
  readonly rule: LayoutRule;
  readonly text: string;
}

interface Import {
  /** The importing file, relative to the project root. */
  readonly file: string;
  /** The specifier as written in the import. */
  readonly specifier: string;
  /** Where the specifier resolves, relative to the project root. */
  readonly target: string;
}

// Import and export statements that start a line (so comments and quoted text do not count; the
// bindings between the keyword and `from` may span lines), plus `import('…')` anywhere.
const STATIC_IMPORT = /^[ \t]*(?:import|export)\b\s*(?:[^'";]*?\bfrom\s*)?['"]([^'"]+)['"]/gm;
const DYNAMIC_IMPORT = /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g;

function importedSpecifiers(source: string): string[] {
  return [...source.matchAll(STATIC_IMPORT), ...source.matchAll(DYNAMIC_IMPORT)].map((match) => match[1]);
}

function isInside(folder: string, path: string): boolean {
  const rel = relative(folder, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/** The TypeScript files under `folder`, relative to `root`, in a stable order. */
function typeScriptFiles(root: string, folder: string): string[] {
  if (!existsSync(join(root, folder))) return [];
  return readdirSync(join(root, folder), { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.ts'))
    .map((name) => join(folder, name).split(sep).join('/'))
    .sort();
}

const isSpec = (file: string) => file.endsWith('.spec.ts');

/** The top-level folder of src/ a path is in, or null for a file at the top (main.ts, the app module). */
function srcFolder(path: string): string | null {
  const parts = path.split('/');
  return parts[0] === 'src' && parts.length > 2 ? parts[1] : null;
}

/** Every relative import of the files under src/ (bare specifiers name packages, which are free). */
function importsOf(root: string): Import[] {
  const imports: Import[] = [];
  for (const file of typeScriptFiles(root, 'src')) {
    for (const specifier of importedSpecifiers(readFileSync(join(root, file), 'utf8'))) {
      if (!specifier.startsWith('.') && !specifier.startsWith('/')) continue;
      const target = relative(root, resolve(root, dirname(file), specifier)).split(sep).join('/');
      imports.push({ file, specifier, target });
    }
  }
  return imports;
}

const describeImport = ({ file, specifier, target }: Import) => `${file} imports '${specifier}' (${target})`;

function testSupportViolations(imports: readonly Import[]): LayoutViolation[] {
  return imports
    .filter(({ file, target }) => isInside('test', target) && !(isSpec(file) && SPEC_TEST_CODE.some((folder) => isInside(folder, target))))
    .map((found) => ({
      rule: 'test-support',
      text: `${describeImport(found)}: ${isSpec(found.file) ? 'a spec under src/ may use test/support/ and test/storage/contract/ only' : 'only specs under src/ may import from test/'}`,
    }));
}

function floorViolations(imports: readonly Import[]): LayoutViolation[] {
  return imports.flatMap((found): LayoutViolation[] => {
    const from = srcFolder(found.file);
    const to = srcFolder(found.target);
    const allowed = from === null ? undefined : FLOORS[from];
    if (!allowed || !isInside('src', found.target) || to === from || (to !== null && allowed.includes(to))) return [];
    const may = allowed.length > 0 ? `only from itself and ${allowed.map((f) => `src/${f}/`).join(', ')}` : 'only from itself';
    return [{ rule: 'floor', text: `${describeImport(found)}: src/${from}/ imports ${may} (and packages)` }];
  });
}

/** Circles between the folders of src/: each strongly connected set of two or more, with the imports that close it. */
function cycleViolations(imports: readonly Import[]): LayoutViolation[] {
  const edges = new Map<string, Map<string, Import>>();
  for (const found of imports) {
    const from = srcFolder(found.file);
    const to = srcFolder(found.target);
    if (from === null || to === null || from === to || !isInside('src', found.target)) continue;
    if (!edges.has(from)) edges.set(from, new Map());
    if (!edges.get(from)!.has(to)) edges.get(from)!.set(to, found);
  }
  return stronglyConnected([...edges.keys()].sort(), (folder) => [...(edges.get(folder)?.keys() ?? [])].sort())
    .filter((set) => set.length > 1)
    .map((set) => {
      const inside = set.flatMap((from) =>
        [...(edges.get(from) ?? new Map<string, Import>()).entries()].filter(([to]) => set.includes(to)).map(([, found]) => describeImport(found)),
      );
      return { rule: 'cycle', text: `${set.map((f) => `src/${f}/`).join(', ')} import each other in a circle: ${inside.sort().join('; ')}` };
    });
}

/** Tarjan's strongly connected components, each sorted, in a stable order. */
function stronglyConnected(nodes: readonly string[], next: (node: string) => string[]): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const visit = (node: string) => {
    index.set(node, index.size);
    low.set(node, index.get(node)!);
    stack.push(node);
    onStack.add(node);
    for (const to of next(node)) {
      if (!index.has(to)) {
        visit(to);
        low.set(node, Math.min(low.get(node)!, low.get(to)!));
      } else if (onStack.has(to)) {
        low.set(node, Math.min(low.get(node)!, index.get(to)!));
      }
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    for (let member = stack.pop()!; ; member = stack.pop()!) {
      onStack.delete(member);
      component.push(member);
      if (member === node) break;
    }
    components.push(component.sort());
  };
  for (const node of nodes) if (!index.has(node)) visit(node);
  return components.sort((a, b) => (a[0] < b[0] ? -1 : 1));
}

function specPlacementViolations(root: string): LayoutViolation[] {
  const besideNothing = typeScriptFiles(root, 'src')
    .filter(isSpec)
    .filter((spec) => {
      const subject = spec.slice(0, -'.spec.ts'.length);
      return !existsSync(join(root, `${subject}.ts`)) && !existsSync(join(root, subject));
    })
    .map((spec): LayoutViolation => ({
      rule: 'spec-placement',
      text: `${spec} is named after nothing beside it: a spec sits beside the file (x.ts) or folder (x/) it tests`,
    }));
  const inTest = typeScriptFiles(root, 'test')
    .filter((file) => isSpec(file) && file !== TREE_SPEC)
    .map((file): LayoutViolation => ({
      rule: 'spec-placement',
      text: `${file} is a unit spec under test/: it belongs beside what it tests, under src/ (test/ holds *.e2e-spec.ts)`,
    }));
  return [...besideNothing, ...inTest];
}

function layoutViolations(root: string): LayoutViolation[] {
  const imports = importsOf(root);
  return [...testSupportViolations(imports), ...floorViolations(imports), ...cycleViolations(imports), ...specPlacementViolations(root)];
}

function violationsOf(rule: LayoutRule, root: string): string[] {
  return layoutViolations(root)
    .filter((violation) => violation.rule === rule)
    .map((violation) => violation.text);
}

describe('the layout of src/', () => {
  it('is read from the project root (the checker sees the real tree)', () => {
    const files = typeScriptFiles(ROOT, 'src');
    assert.ok(files.includes('src/main.ts'), 'src/main.ts is among the files checked');
    assert.ok(files.includes('src/common/clock.ts'), 'src/common/clock.ts is among the files checked');
    assert.ok(importsOf(ROOT).length > 100, 'the imports are read');
  });

  it('has nothing under src/ that reaches into test/ but specs using its support and the storage contract', () => {
    assert.deepEqual(violationsOf('test-support', ROOT), []);
  });

  it('keeps its floors: common/ at the bottom, domain/ and config/ on it, storage/ on those', () => {
    assert.deepEqual(violationsOf('floor', ROOT), []);
  });

  it('has no two folders that import each other, directly or around a circle', () => {
    assert.deepEqual(violationsOf('cycle', ROOT), []);
  });

  it('has every unit spec beside what it tests, and none under test/', () => {
    assert.deepEqual(violationsOf('spec-placement', ROOT), []);
  });
});

describe('the layout checker', () => {
  let fixture: string;

  const write = (path: string, lines: string[]) => {
    mkdirSync(dirname(join(fixture, path)), { recursive: true });
    writeFileSync(join(fixture, path), `${lines.join('\n')}\n`);
  };

  beforeAll(() => {
    fixture = mkdtempSync(join(tmpdir(), 'layout-spec-'));
    write('src/common/page.ts', [
      "import { join } from 'node:path';",
      "import { Injectable } from '@nestjs/common';",
      "import { systemClock } from './clock.js';",
      "import { Cursor } from '../common/cursor.js';",
      'import {',
      '  type Schedule,',
      '  ScheduleStorage,',
      "} from '../storage/ports/schedule.storage.js';",
      "export * from '../domain/fire.js';",
      "// import { aSchedule } from '../../test/support/builders.js';",
      "export const SAMPLE = 'https://example.test/from';",
    ]);
    write('src/common/clock.ts', ['export const systemClock = { now: () => new Date() };']);
    write('src/common/cursor.ts', ['export class Cursor {}']);
    write('src/domain/fire.ts', ["import { systemClock } from '../common/clock.js';", "import { planDueFire } from '../firing/fire-planner.js';"]);
    write('src/config/app-config.ts', ["import type { StorageBackend } from '../storage/storage-backend.js';"]);
    write('src/storage/ports/schedule.storage.ts', [
      "import type { Schedule } from '../../domain/schedule.js';",
      "import { DEFAULT_LIMITS } from '../../config/app-config.js';",
      "import { ScheduleResponse } from '../../wire/schedule.response.js';",
    ]);
    write('src/firing/fire-planner.ts', ["import { fireWrite } from '../domain/fire.js';", "import { SessionsService } from '../sessions/sessions.service.js';"]);
    write('src/firing/fire-planner.spec.ts', [
      "import { planDueFire } from './fire-planner.js';",
      "import { aSchedule } from '../../test/support/builders.js';",
      "import rows from '../../test/fixtures/rows.json';",
    ]);
    write('src/firing/orphan.spec.ts', ["const helpers = await import('../../test/support/builders.js');"]);
    write('src/sessions/sessions.service.ts', [
      "import { SchedulesService } from '../schedules/schedules.service.js';",
      "import { manualClock } from '../../test/support/manual-clock.js';",
    ]);
    write('src/schedules/schedules.service.ts', ["import { nextFireAfter } from '../firing/cron.js';"]);
    write('src/wire/schedule.response.ts', ["import { ScheduleStorage } from '../storage/ports/schedule.storage.js';"]);
    write('src/storage/memory/memory.storage.spec.ts', ["import { runStorageContract } from '../../../test/storage/contract/run-storage-contract.js';"]);
    write('src/storage/memory/memory.storage.ts', ['export class MemoryStorage {}']);
    write('src/storage/typeorm/migrations.spec.ts', ["import { aSchedule } from '../../../test/support/builders.js';"]);
    write('src/storage/typeorm/migrations/postgres/1-initial.ts', ['export class Initial {}']);
    write('test/support/builders.ts', ["import { systemClock } from '../../src/common/clock.js';"]);
    write('test/unit/dispatch/webhook.spec.ts', ["import { webhookBody } from '../../../src/dispatch/webhook.js';"]);
    write('test/schedules.e2e-spec.ts', ["import { aSchedule } from './support/builders.js';"]);
    write('test/layout.spec.ts', ["import { describe } from '@jest/globals';"]);
  });

  afterAll(() => rmSync(fixture, { recursive: true, force: true }));

  describe('on circles', () => {
    let circles: string;

    beforeAll(() => {
      circles = mkdtempSync(join(tmpdir(), 'layout-spec-circles-'));
      const files: Record<string, string> = {
        'src/schedules/schedules.service.ts': '../sessions/sessions.service.js',
        'src/sessions/sessions.service.ts': '../schedules/dto/chat-model-config.dto.js',
        'src/dispatch/webhook.ts': '../firing/scheduler.service.js',
        'src/firing/scheduler.service.ts': '../runtime/runtime.service.js',
        'src/runtime/runtime.service.ts': '../dispatch/webhook.js',
        'src/health/health.controller.ts': '../firing/scheduler.service.js',
      };
      for (const [file, specifier] of Object.entries(files)) {
        mkdirSync(dirname(join(circles, file)), { recursive: true });
        writeFileSync(join(circles, file), `import { x } from '${specifier}';\n`);
      }
    });

    afterAll(() => rmSync(circles, { recursive: true, force: true }));

    it('reports each circle of folders once, with the imports that close it, and no folder that only leans on one', () => {
      assert.deepEqual(violationsOf('cycle', circles), [
        'src/dispatch/, src/firing/, src/runtime/ import each other in a circle: ' +
          "src/dispatch/webhook.ts imports '../firing/scheduler.service.js' (src/firing/scheduler.service.js); " +
          "src/firing/scheduler.service.ts imports '../runtime/runtime.service.js' (src/runtime/runtime.service.js); " +
          "src/runtime/runtime.service.ts imports '../dispatch/webhook.js' (src/dispatch/webhook.js)",
        'src/schedules/, src/sessions/ import each other in a circle: ' +
          "src/schedules/schedules.service.ts imports '../sessions/sessions.service.js' (src/sessions/sessions.service.js); " +
          "src/sessions/sessions.service.ts imports '../schedules/dto/chat-model-config.dto.js' (src/schedules/dto/chat-model-config.dto.js)",
      ]);
    });
  });

  it('reports each import of test/ but a spec’s of its support and the storage contract, naming the file and the import', () => {
    assert.deepEqual(violationsOf('test-support', fixture), [
      "src/firing/fire-planner.spec.ts imports '../../test/fixtures/rows.json' (test/fixtures/rows.json): a spec under src/ may use test/support/ and test/storage/contract/ only",
      "src/sessions/sessions.service.ts imports '../../test/support/manual-clock.js' (test/support/manual-clock.js): only specs under src/ may import from test/",
    ]);
  });

  it('reports each import below a floor: common/, domain/, config/ and storage/ importing what sits above them', () => {
    assert.deepEqual(violationsOf('floor', fixture), [
      "src/common/page.ts imports '../storage/ports/schedule.storage.js' (src/storage/ports/schedule.storage.js): src/common/ imports only from itself (and packages)",
      "src/common/page.ts imports '../domain/fire.js' (src/domain/fire.js): src/common/ imports only from itself (and packages)",
      "src/config/app-config.ts imports '../storage/storage-backend.js' (src/storage/storage-backend.js): src/config/ imports only from itself and src/common/ (and packages)",
      "src/domain/fire.ts imports '../firing/fire-planner.js' (src/firing/fire-planner.js): src/domain/ imports only from itself and src/common/ (and packages)",
      "src/storage/ports/schedule.storage.ts imports '../../wire/schedule.response.js' (src/wire/schedule.response.js): src/storage/ imports only from itself and src/common/, src/domain/, src/config/ (and packages)",
    ]);
  });

  it('reports a spec named after nothing beside it, and a unit spec under test/', () => {
    assert.deepEqual(violationsOf('spec-placement', fixture), [
      'src/firing/orphan.spec.ts is named after nothing beside it: a spec sits beside the file (x.ts) or folder (x/) it tests',
      'test/unit/dispatch/webhook.spec.ts is a unit spec under test/: it belongs beside what it tests, under src/ (test/ holds *.e2e-spec.ts)',
    ]);
  });
});
