#!/usr/bin/env node
// @ts-check
/**
 * Builds `dist/`, what the CLI and the worker run (`npm install` runs it as `prepare`; the tests'
 * global setup runs it so spawned processes run this checkout's code):
 * - `dist/cli.js` and its chunks: `src/cli/main.ts` bundled by esbuild with code splitting, so each
 *   command loads only the chunks its `import()` reaches. The pure-JavaScript packages of the light
 *   commands ({@link BUNDLED_PACKAGES}) are bundled into the chunks: one file to read and compile
 *   instead of dozens, no CommonJS export scan; every other package stays in node_modules (external).
 * - `dist/encoder-thread.js`: the encoder thread's entry (src/ingest/encoder-pool.ts starts it).
 * - `dist/workflow-bundle.js`: the workflow code bundled once by the Temporal SDK's
 *   `bundleWorkflowCode` (webpack), loaded at worker start with `workflowBundle: { codePath }`; and
 *   `dist/workflow-bundle-traced.js`, the same with the OpenTelemetry workflow interceptors (workers that trace)
 *   instead of being bundled at every start.
 * `node scripts/build.mjs [--no-workflows] [--analyze]` (`--analyze`: print what each output file
 * holds, biggest inputs first).
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Output folder. */
export const DIST_DIR = path.join(ROOT, 'dist');
/** The prebuilt workflow bundle. */
export const WORKFLOW_BUNDLE = path.join(DIST_DIR, 'workflow-bundle.js');
/** The workflow interceptors that report pipeline runs to the worker's OpenLineage sink (in every bundle). */
export const WORKFLOW_LINEAGE_INTERCEPTORS = path.join(ROOT, 'src', 'workflows', 'lineage-interceptors.ts');
/** The OpenTelemetry workflow interceptors module (`@temporalio/interceptors-opentelemetry`). */
export const WORKFLOW_TRACING_INTERCEPTORS = createRequire(import.meta.url).resolve(
  '@temporalio/interceptors-opentelemetry/lib/workflow-interceptors',
);

/**
 * Packages (or single entry points of one, `zod/mini`) bundled into dist/ with what they import,
 * rather than loaded from node_modules: what `--help` and `models` load, all plain JavaScript without
 * native code or files read at run time. Everything else (the Temporal SDK, kafkajs, DuckDB, ONNX
 * Runtime, pino's worker thread, …) stays external, and so does `zod` itself: its users are heavy
 * commands, and a bundled copy would share one chunk of all of zod (every locale) with `zod/mini`.
 */
export const BUNDLED_PACKAGES = ['commander', 'yaml', 'zod/mini', 'zod/v4/locales/en.js', 'nunjucks', 'csv-parse', 'pg'];

/** Optional dependencies of bundled packages, required at run time only when installed and used. */
const OPTIONAL_PACKAGES = ['pg-native', 'pg-cloudflare', 'chokidar', 'fsevents'];

/** Bundled CommonJS code calls `require` (of Node's built-ins); ESM chunks get one from `createRequire`. */
const REQUIRE_BANNER =
  "import { createRequire as __bundleCreateRequire } from 'node:module';\nconst require = __bundleCreateRequire(import.meta.url);";

/**
 * An esbuild plugin for a Node-only build: pg probes for Cloudflare Workers when it is imported
 * (`new Response(…)` in pg/lib/stream.js), and on Node 20 that first use of `Response` loads Node's
 * whole fetch implementation (undici, about 40 ms of a `models` command's start). dist/ runs on
 * Node.js only, so the probe is answered at build time: not Cloudflare. A pg whose code no longer has
 * the probe is bundled as it is, with a warning.
 * @returns {import('esbuild').Plugin}
 */
function nodeOnlyPg() {
  const probe = 'function isCloudflareRuntime() {';
  return {
    name: 'node-only-pg',
    setup(b) {
      b.onLoad({ filter: /[\\/]node_modules[\\/]pg[\\/]lib[\\/]stream\.js$/ }, (args) => {
        const code = fs.readFileSync(args.path, 'utf8');
        if (!code.includes(probe)) {
          return { contents: code, loader: 'js', warnings: [{ text: `${probe} not found: pg's Cloudflare probe is left in` }] };
        }
        return { contents: code.replace(probe, `${probe}\n  return false; // Node.js only (scripts/build.mjs)`), loader: 'js' };
      });
    },
  };
}

/**
 * An esbuild plugin: bare imports from this project's code are external unless their package is in
 * {@link BUNDLED_PACKAGES}; imports from inside a bundled package are bundled too (its own
 * dependencies), except {@link OPTIONAL_PACKAGES}.
 * @returns {import('esbuild').Plugin}
 */
function externalPackages() {
  return {
    name: 'external-packages',
    setup(b) {
      b.onResolve({ filter: /^[^./]/ }, (args) => {
        if (args.path.startsWith('node:') || path.isAbsolute(args.path)) return { external: true };
        const parts = args.path.split('/');
        const pkg = args.path.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
        if (OPTIONAL_PACKAGES.includes(pkg ?? '')) return { external: true };
        const fromPackage = args.importer.split(path.sep).includes('node_modules');
        if (fromPackage || BUNDLED_PACKAGES.includes(pkg ?? '') || BUNDLED_PACKAGES.includes(args.path)) return undefined;
        return { external: true };
      });
    },
  };
}

/**
 * Builds dist/ from src/ into a fresh folder, then swaps it in whole, so a failed build leaves the
 * previous dist/ as it was.
 * @param {{ quiet?: boolean; workflows?: boolean; analyze?: boolean }} [options] `quiet`: only
 *   warnings and errors; `workflows` (default true): also bundle the workflow code; `analyze`: print
 *   esbuild's analysis of the output (what each file holds).
 * @returns {Promise<void>}
 * @throws Error with esbuild's or webpack's messages when the code does not build.
 */
export async function buildDist(options = {}) {
  const { analyzeMetafile, build } = await import('esbuild');
  const next = `${DIST_DIR}.next-${process.pid}`;
  fs.rmSync(next, { recursive: true, force: true });
  try {
    const result = await build({
      absWorkingDir: ROOT,
      entryPoints: { cli: 'src/cli/main.ts', 'encoder-thread': 'src/ingest/encoder-thread.ts' },
      outdir: next,
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      plugins: [externalPackages(), nodeOnlyPg()],
      banner: { js: REQUIRE_BANNER },
      sourcemap: 'linked',
      chunkNames: '[name]-[hash]',
      metafile: options.analyze === true,
      logLevel: options.quiet ? 'warning' : 'info',
    });
    if (result.metafile) console.log(await analyzeMetafile(result.metafile));
    if (options.workflows !== false) {
      const { bundleWorkflowCode } = await import('@temporalio/worker');
      const { code } = await bundleWorkflowCode({
        workflowsPath: path.join(ROOT, 'src', 'workflows', 'index.ts'),
        workflowInterceptorModules: [WORKFLOW_LINEAGE_INTERCEPTORS],
        logger: quietLogger(options.quiet),
      });
      fs.writeFileSync(path.join(next, 'workflow-bundle.js'), code);
      // The same code with the OpenTelemetry workflow interceptors, for workers that trace
      // (OTEL_EXPORTER_OTLP_ENDPOINT set; src/observability/tracing.ts).
      const traced = await bundleWorkflowCode({
        workflowsPath: path.join(ROOT, 'src', 'workflows', 'index.ts'),
        workflowInterceptorModules: [WORKFLOW_LINEAGE_INTERCEPTORS, WORKFLOW_TRACING_INTERCEPTORS],
        logger: quietLogger(options.quiet),
      });
      fs.writeFileSync(path.join(next, 'workflow-bundle-traced.js'), traced.code);
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
  await buildDist({ workflows: !process.argv.includes('--no-workflows'), analyze: process.argv.includes('--analyze') });
  console.log(`dist/ built in ${Date.now() - t0} ms`);
}
