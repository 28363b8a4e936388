/**
 * `iot-pipelines models …`: the dbt-style project (dbt_project.yml at the repository root, or
 * `--project-dir`) run directly against PostgreSQL, like dbt's CLI:
 *
 * | command | does |
 * |---|---|
 * | `models run` | build the selected models |
 * | `models seed` | load the selected seeds |
 * | `models test` | run the selected data tests |
 * | `models build` | seeds, models and tests in DAG order; a failing test skips its node's downstream |
 * | `models compile` | write the compiled SQL to `target/compiled/` and print it with `--print` |
 * | `models ls` | list the selected nodes (`--output json` for unique IDs, types and paths) |
 *
 * Options: `-s/--select`, `--exclude` (dbt selector syntax, see src/modelrunner/graph.ts), `--vars`
 * (JSON or YAML object), `--threads`, `--full-refresh`, `--resume` (run only what failed or was
 * skipped in the previous `target/run_results.json`; also `-s result:error+` etc.).
 * Exit code 1 when a node errored or a test failed.
 */
import { Command, InvalidArgumentError } from 'commander';
import { parse as parseYaml } from 'yaml';
import { databaseUrl, loadSettings, ROOT_DIR } from '../config/env';
import type { RunCommand } from '../modelrunner/index';
import { positiveInt } from './args';

// The model runner (nunjucks, zod, csv-parse) and pg are imported by the actions, not here: a run
// starts connecting to PostgreSQL first and loads the runner while the connections are set up.

interface CommonOptions {
  select?: string[];
  exclude?: string[];
  vars: string;
  projectDir: string;
  targetPath?: string;
}

interface RunOptions extends CommonOptions {
  threads: number;
  fullRefresh?: boolean;
  resume?: boolean;
}

/**
 * `--vars` as an object: JSON, or YAML like dbt (`'{key: value}'`).
 * @throws InvalidArgumentError when it is not a mapping.
 */
export function parseVars(text: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = parseYaml(text);
  } catch (e) {
    throw new InvalidArgumentError(`--vars is not JSON/YAML: ${(e as Error).message}`);
  }
  if (v === null || v === undefined) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new InvalidArgumentError('--vars must be an object, e.g. \'{"factor": 3}\'');
  return v as Record<string, unknown>;
}

function addSelection(cmd: Command): Command {
  return cmd
    .option(
      '-s, --select <selectors...>',
      'node selectors: name, +name, name+, 2+name, tag:x, path:models/x, config.materialized:x, a,b (intersection), result:error+',
    )
    .option('--exclude <selectors...>', 'selectors to leave out')
    .option('--vars <json|yaml>', 'vars as an object', '{}')
    .option('--project-dir <dir>', 'folder holding dbt_project.yml', ROOT_DIR)
    .option('--target-path <dir>', 'artifacts folder (default: the project target-path)');
}

async function runCommand(which: RunCommand, o: RunOptions): Promise<void> {
  const vars = parseVars(o.vars);
  const { createPool } = await import('../db/pool');
  const pool = createPool(databaseUrl(loadSettings()), o.threads + 1);
  // Open the run's connections now, while the project is read and compiled, rather than when the
  // first nodes start. A failure is left to the run's own queries to report.
  const connected = Promise.all(
    Array.from({ length: o.threads }, () =>
      pool.connect().then(
        (c) => c.release(),
        () => undefined,
      ),
    ),
  );
  try {
    const { runModels } = await import('../modelrunner/index');
    const r = await runModels({
      pool,
      projectDir: o.projectDir,
      which,
      select: o.select,
      exclude: o.exclude,
      vars,
      threads: o.threads,
      fullRefresh: o.fullRefresh,
      resume: o.resume,
      targetDir: o.targetPath,
    });
    for (const n of r.results) {
      const extra = n.failures !== null && n.failures > 0 ? `${n.failures} failing rows: ` : '';
      console.log(`${n.status.padEnd(8)} ${n.unique_id}  ${n.execution_time.toFixed(2)}s  ${extra}${n.message ?? ''}`);
    }
    const count = (s: string) => r.results.filter((n) => n.status === s).length;
    const parts = ['success', 'pass', 'warn', 'error', 'fail', 'skipped'].filter((s) => count(s) > 0).map((s) => `${s}=${count(s)}`);
    console.log(
      `Done: ${r.results.length} nodes (${parts.join(' ') || 'nothing selected'}) in ${r.elapsed_time.toFixed(2)}s. Artifacts in target/.`,
    );
    if (r.results.some((n) => n.status === 'error' || n.status === 'fail')) process.exitCode = 1;
  } finally {
    await connected;
    await pool.end();
  }
}

/**
 * Adds `models run | build | test | seed | compile | ls` to `program`.
 * Wire with `registerModelCommands(program)` in src/cli/main.ts (replacing the old `models run` block).
 */
export function registerModelCommands(program: Command): Command {
  const models = program
    .command('models')
    .description('dbt-style SQL project: models/, seeds/, tests/ (dbt_project.yml at the repository root).');
  const runnable: [RunCommand, string][] = [
    ['run', 'Build the selected models directly against PostgreSQL.'],
    ['seed', 'Load the selected seeds (CSV files under seed-paths).'],
    ['test', 'Run the selected data tests (generic and singular).'],
    ['build', 'Seeds, models and tests in DAG order; a failing test skips the downstream of its node.'],
  ];
  for (const [which, description] of runnable) {
    addSelection(models.command(which).description(description))
      .option('--threads <n>', 'nodes run at once', positiveInt('--threads'), 4)
      .option('--full-refresh', 'rebuild incremental models from scratch')
      .option('--resume', 'run only what failed or was skipped in the previous run_results.json')
      .action((o: RunOptions) => runCommand(which, o));
  }

  addSelection(models.command('compile').description('Render the selected models and tests to target/compiled/.'))
    .option('--print', 'print the compiled SQL')
    .action(async (o: CommonOptions & { print?: boolean }) => {
      const { buildManifest, compileNode, loadProject, planRun, writeManifest } = await import('../modelrunner/index');
      const manifest = buildManifest(loadProject(o.projectDir), { vars: parseVars(o.vars), targetDir: o.targetPath });
      const { selected } = planRun(manifest, { which: 'compile', select: o.select, exclude: o.exclude });
      writeManifest(manifest);
      for (const id of selected) {
        const c = compileNode(manifest, id);
        if (o.print) console.log(`-- ${id}\n${c.compiledCode}\n`);
        else console.log(`${id} -> ${c.compiledPath ?? ''}`);
      }
    });

  addSelection(models.command('ls').description('List the selected nodes.'))
    .option('--resource-type <type>', 'model, seed or test')
    .option('--output <format>', 'name, selector (unique ID), path or json', 'selector')
    .action(async (o: CommonOptions & { resourceType?: string; output: string }) => {
      const { buildManifest, loadProject, planRun } = await import('../modelrunner/index');
      const manifest = buildManifest(loadProject(o.projectDir), { vars: parseVars(o.vars), targetDir: o.targetPath });
      const { selected } = planRun(manifest, { which: 'ls', select: o.select, exclude: o.exclude });
      for (const id of selected) {
        const n = manifest.nodes[id];
        if (!n || (o.resourceType && n.resource_type !== o.resourceType)) continue;
        if (o.output === 'json') {
          console.log(
            JSON.stringify({
              unique_id: id,
              resource_type: n.resource_type,
              name: n.name,
              materialized: n.config.materialized,
              original_file_path: n.original_file_path,
              tags: n.tags,
            }),
          );
        } else console.log(o.output === 'name' ? n.name : o.output === 'path' ? n.original_file_path : n.fqn.join('.'));
      }
    });
  return models;
}
