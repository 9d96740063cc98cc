import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';

/*
 * The floors of the layout (STYLE.md, DESIGN.md "Shape"), checked on the source text so that a new
 * import that breaks them fails here rather than in review: nothing under src/ reaches into test/
 * (test support never ships), and src/common/ sits at the bottom, importing only itself and packages.
 */

const ROOT = resolve(import.meta.dirname, '..', '..');

type LayoutRule = 'test-support' | 'common-floor';

interface LayoutViolation {
  readonly rule: LayoutRule;
  /** The importing file, relative to the project root. */
  readonly file: string;
  /** The specifier as written in the import. */
  readonly specifier: string;
  /** Where the specifier resolves, relative to the project root. */
  readonly target: string;
}

const RULE_TEXT: Record<LayoutRule, string> = {
  'test-support': 'nothing under src/ may import from test/',
  'common-floor': 'src/common/ imports only from itself and packages',
};

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

/** The TypeScript files under `folder`, as absolute paths in a stable order. */
function typeScriptFilesUnder(folder: string): string[] {
  return readdirSync(folder, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.ts'))
    .sort()
    .map((name) => join(folder, name));
}

function layoutViolations(root: string): LayoutViolation[] {
  const src = join(root, 'src');
  const common = join(src, 'common');
  const test = join(root, 'test');
  const violations: LayoutViolation[] = [];
  for (const file of typeScriptFilesUnder(src)) {
    for (const specifier of importedSpecifiers(readFileSync(file, 'utf8'))) {
      // Bare specifiers name packages (and node: builtins); only paths can point into the tree.
      if (!specifier.startsWith('.') && !specifier.startsWith('/')) continue;
      const target = resolve(dirname(file), specifier);
      const found = { file: relative(root, file), specifier, target: relative(root, target) };
      if (isInside(test, target)) violations.push({ rule: 'test-support', ...found });
      else if (isInside(common, file) && !isInside(common, target)) violations.push({ rule: 'common-floor', ...found });
    }
  }
  return violations;
}

function describeViolation({ rule, file, specifier, target }: LayoutViolation): string {
  return `${file} imports '${specifier}' (${target}): ${RULE_TEXT[rule]}`;
}

function violationsOf(rule: LayoutRule, root: string): string[] {
  return layoutViolations(root)
    .filter((violation) => violation.rule === rule)
    .map(describeViolation);
}

describe('the layout of src/', () => {
  it('is read from the project root (the checker sees the real tree)', () => {
    const files = typeScriptFilesUnder(join(ROOT, 'src')).map((file) => relative(ROOT, file));
    assert.ok(files.includes('src/main.ts'), 'src/main.ts is among the files checked');
    assert.ok(files.includes('src/common/clock.ts'), 'src/common/clock.ts is among the files checked');
  });

  it('has no file that imports from test/', () => {
    assert.deepEqual(violationsOf('test-support', ROOT), []);
  });

  it('has nothing under src/common/ that imports from another folder of src/', () => {
    assert.deepEqual(violationsOf('common-floor', ROOT), []);
  });
});

describe('the layout checker', () => {
  let fixture: string;

  const write = (path: string, text: string) => {
    mkdirSync(dirname(join(fixture, path)), { recursive: true });
    writeFileSync(join(fixture, path), text);
  };

  beforeAll(() => {
    fixture = mkdtempSync(join(tmpdir(), 'layout-spec-'));
    write(
      'src/common/page.ts',
      [
        "import { join } from 'node:path';",
        "import { Injectable } from '@nestjs/common';",
        "import { systemClock } from './clock.js';",
        "import { Cursor } from '../common/cursor.js';",
        'import {',
        '  type Schedule,',
        '  StorageBase,',
        "} from '../storage/storage.base.js';",
        "export * from '../domain/fire.js';",
        "// import { aSchedule } from '../../test/support/builders.js';",
        "export const SAMPLE = 'https://example.test/from';",
      ].join('\n'),
    );
    write('src/common/clock.ts', 'export const systemClock = { now: () => new Date() };\n');
    write(
      'src/firing/scheduler.spec.ts',
      [
        "import { systemClock } from '../common/clock.js';",
        "import { helper } from '../../test-utils/helper.js';",
        "const builders = await import('../../test/support/builders.js');",
      ].join('\n'),
    );
    write('src/storage/typeorm/entities/row.ts', "import type { Fixture } from '../../../../test/fixtures/rows.js';\n");
    write('test/support/builders.ts', "import { systemClock } from '../../src/common/clock.js';\n");
  });

  afterAll(() => rmSync(fixture, { recursive: true, force: true }));

  it('reports each import into test/ and each import from src/common/ into another folder, naming the file and the import', () => {
    assert.deepEqual(layoutViolations(fixture).map(describeViolation), [
      "src/common/page.ts imports '../storage/storage.base.js' (src/storage/storage.base.js): src/common/ imports only from itself and packages",
      "src/common/page.ts imports '../domain/fire.js' (src/domain/fire.js): src/common/ imports only from itself and packages",
      "src/firing/scheduler.spec.ts imports '../../test/support/builders.js' (test/support/builders.js): nothing under src/ may import from test/",
      "src/storage/typeorm/entities/row.ts imports '../../../../test/fixtures/rows.js' (test/fixtures/rows.js): nothing under src/ may import from test/",
    ]);
  });
});
