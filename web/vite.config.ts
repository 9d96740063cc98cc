import { gzipSync } from 'node:zlib';
import { defineConfig, type Plugin } from 'vite';

/** The most gzipped JavaScript the console may ship (issue 21): the build fails past it. */
const JAVASCRIPT_BUDGET_BYTES = 250 * 1024;

/** Reports the console's JavaScript, gzipped, against its budget, and fails the build past it. */
function javascriptBudget(): Plugin {
  return {
    name: 'javascript-budget',
    apply: 'build',
    generateBundle(_options, bundle) {
      let total = 0;
      for (const output of Object.values(bundle)) {
        if (output.type === 'chunk') total += gzipSync(output.code, { level: 9 }).length;
      }
      const kb = (bytes: number) => (bytes / 1024).toFixed(1);
      const line = `console JavaScript: ${kb(total)} KB gzipped (budget ${kb(JAVASCRIPT_BUDGET_BYTES)} KB)`;
      if (total > JAVASCRIPT_BUDGET_BYTES) this.error(`${line}: over budget`);
      this.info(line);
      // Vite prints plugin info only with --debug; the budget line belongs in every build's output.
      console.log(line);
    },
  };
}

/**
 * The web console: built into dist/console, served by the service at /console/ (src/console/).
 * Preact's automatic JSX runtime through Vite's own transform (Oxc), so no plugin is needed.
 */
export default defineConfig({
  root: import.meta.dirname,
  base: '/console/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: '../dist/console',
    emptyOutDir: true,
    target: 'es2022',
    // Every browser that runs ES2022 modules preloads them: no polyfill to ship.
    modulePreload: { polyfill: false },
  },
  plugins: [javascriptBudget()],
  logLevel: 'warn',
});
