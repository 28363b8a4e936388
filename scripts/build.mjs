#!/usr/bin/env node
// @ts-check
/**
 * Builds `dist/`, what the CLI and the worker run (`npm install` runs it as `prepare`; the tests'
 * global setup runs it so spawned processes run this checkout's code):
 * - `dist/cli.js` and its chunks: `src/cli/main.ts` bundled by esbuild with code splitting, so each
 *   command loads only the chunks its `import()` reaches; packages stay in node_modules (external).
 * - `dist/encoder-thread.js`: the encoder thread's entry (src/ingest/encoder-pool.ts starts it).
 * - `dist/workflow-bundle.js`: the workflow code bundled once by the Temporal SDK's
 *   `bundleWorkflowCode` (webpack), loaded at worker start with `workflowBundle: { codePath }`
 *   instead of being bundled at every start.
 * `node scripts/build.mjs [--no-workflows]`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Output folder. */
export const DIST_DIR = path.join(ROOT, 'dist');
/** The prebuilt workflow bundle. */
export const WORKFLOW_BUNDLE = path.join(DIST_DIR, 'workflow-bundle.js');

/**
 * Builds dist/ from src/ into a fresh folder, then swaps it in whole, so a failed build leaves the
 * previous dist/ as it was.
 * @param {{ quiet?: boolean; workflows?: boolean }} [options] `quiet`: only warnings and errors;
 *   `workflows` (default true): also bundle the workflow code.
 * @returns {Promise<void>}
 * @throws Error with esbuild's or webpack's messages when the code does not build.
 */
export async function buildDist(options = {}) {
  const { build } = await import('esbuild');
  const next = `${DIST_DIR}.next-${process.pid}`;
  fs.rmSync(next, { recursive: true, force: true });
  try {
    await build({
      absWorkingDir: ROOT,
      entryPoints: { cli: 'src/cli/main.ts', 'encoder-thread': 'src/ingest/encoder-thread.ts' },
      outdir: next,
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      packages: 'external',
      sourcemap: 'linked',
      chunkNames: '[name]-[hash]',
      logLevel: options.quiet ? 'warning' : 'info',
    });
    if (options.workflows !== false) {
      const { bundleWorkflowCode } = await import('@temporalio/worker');
      const { code } = await bundleWorkflowCode({
        workflowsPath: path.join(ROOT, 'src', 'workflows', 'index.ts'),
        logger: quietLogger(options.quiet),
      });
      fs.writeFileSync(path.join(next, 'workflow-bundle.js'), code);
    }
    fs.rmSync(DIST_DIR, { recursive: true, force: true });
    fs.renameSync(next, DIST_DIR);
  } finally {
    fs.rmSync(next, { recursive: true, force: true });
  }
}

/** @param {boolean | undefined} quiet */
function quietLogger(quiet) {
  const noop = () => {};
  const print = (/** @type {string} */ level) => (/** @type {string} */ message) => console.log(`[workflow bundle] ${level} ${message}`);
  return {
    trace: noop,
    debug: noop,
    info: quiet ? noop : print('INFO'),
    warn: print('WARN'),
    error: print('ERROR'),
    log: noop,
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const t0 = Date.now();
  await buildDist({ workflows: !process.argv.includes('--no-workflows') });
  console.log(`dist/ built in ${Date.now() - t0} ms`);
}
