/**
 * Stage 4 (compile): renders one node with `ref()` → the parent's quoted relation
 * (`"analytics"."stg_sensor_readings"`; an ephemeral parent → its CTE name), `source()` → the declared
 * table (`"ingest"."sensor_readings"`), `var()`, `config()` → '', `is_incremental()`, `this` and
 * `invocation_id`, then
 * inlines ephemeral parents as CTEs (`with __dbt__cte__x as (…)`, dbt's layout) and writes the result
 * to `<target>/compiled/<project>/<original_file_path>`. Generic tests compile to dbt's SQL for
 * `unique`, `not_null`, `accepted_values` and `relationships` (every column quoted).
 */
import fs from 'node:fs';
import path from 'node:path';
import { ModelRunnerError, SelectionError, TemplateError } from './errors';
import { CONTEXT_FUNCTIONS, JINJA_LITERALS, makeEnvVar, makeVar, refName, sourceArgs } from './context';
import { quoteIdent } from './identifiers';
import { EPHEMERAL_PREFIX, modelUniqueId, seedUniqueId, sourceUniqueId } from './manifest';
import { analyzeTemplate, RenderState, renderTemplate } from './template';
import type { Manifest, ManifestNode } from './types';

/** A compiled node. */
export interface CompiledNode {
  uniqueId: string;
  /** SELECT statement, trailing semicolons and whitespace removed. */
  compiledCode: string;
  /** Absolute path of the written file, when written. */
  compiledPath: string | undefined;
}

/** Options of {@link compileNode}. */
export interface CompileOptions {
  /** Write the compiled SQL under `<target>/compiled/`. @default true */
  write?: boolean;
  /** Value of `is_incremental()` (decided by the executor: incremental model, table exists, no full refresh). @default false */
  isIncremental?: boolean;
  /**
   * Value of dbt's `invocation_id` context variable: the id of the run building the node (a model can
   * write it into its rows as lineage, `'{{ invocation_id }}' as workflow_run_id`); in a pipeline the
   * workflow run id. @default the manifest's `metadata.invocation_id`
   */
  invocationId?: string;
}

/** A SQL string literal: `'it''s'`. */
export function quoteLiteral(value: string): string {
  if (value.includes('\0')) throw new ModelRunnerError('string literal contains a NUL byte');
  return `'${value.replaceAll("'", "''")}'`;
}

function resolveRef(manifest: Manifest, node: ManifestNode, file: string, name: string, used: string[]): string {
  const project = manifest.metadata.project_name;
  const id = [modelUniqueId(project, name), seedUniqueId(project, name)].find((x) => manifest.nodes[x] !== undefined);
  const parent = id ? manifest.nodes[id] : undefined;
  if (!id || !parent || !node.depends_on.nodes.includes(id)) {
    throw new TemplateError(file, undefined, name, `ref('${name}') was not seen when the project was parsed`);
  }
  if (parent.config.materialized === 'ephemeral' && !used.includes(id)) used.push(id);
  return parent.relation_name;
}

/** Renders a template node (model or singular test) without CTE injection. */
function render(manifest: Manifest, node: ManifestNode, isIncremental: boolean, invocationId: string, usedEphemerals: string[]): string {
  const file = node.original_file_path;
  const project = manifest.metadata.project_name;
  analyzeTemplate(file, node.raw_code, CONTEXT_FUNCTIONS);
  const state = new RenderState();
  return renderTemplate(
    file,
    node.raw_code,
    {
      ref: state.guard((...a: unknown[]) => resolveRef(manifest, node, file, refName(file, project, a), usedEphemerals)),
      source: state.guard((...a: unknown[]) => {
        const [s, t] = sourceArgs(file, a);
        const src = manifest.sources[sourceUniqueId(project, s, t)];
        if (!src) throw new TemplateError(file, undefined, `${s}.${t}`, `source('${s}', '${t}') is not declared`);
        return src.relation_name;
      }),
      config: () => '',
      var: state.guard(makeVar(file, manifest.vars)),
      env_var: state.guard(makeEnvVar(file)),
      is_incremental: () => isIncremental,
      this: node.relation_name,
      invocation_id: invocationId,
      ...JINJA_LITERALS,
    },
    state,
  );
}

function trimSql(sql: string): string {
  return sql.replace(/[\s;]+$/, '').trimStart();
}

/** Leading whitespace and comments of `sql` (kept in front of an injected `with`). */
function leadingComments(sql: string): number {
  let i = 0;
  for (;;) {
    const rest = sql.slice(i);
    const ws = /^\s+/.exec(rest);
    if (ws) {
      i += ws[0].length;
      continue;
    }
    if (rest.startsWith('--')) {
      const nl = rest.indexOf('\n');
      i += nl < 0 ? rest.length : nl + 1;
      continue;
    }
    if (rest.startsWith('/*')) {
      const end = rest.indexOf('*/');
      i += end < 0 ? rest.length : end + 2;
      continue;
    }
    return i;
  }
}

/**
 * Prepends `ctes` (`name as (sql)`) to `sql`: merged into an existing leading `with` (after
 * `recursive` the CTEs go first too), else a new `with`.
 */
export function injectCtes(sql: string, ctes: string[]): string {
  if (ctes.length === 0) return sql;
  const at = leadingComments(sql);
  const head = sql.slice(0, at);
  const body = sql.slice(at);
  const m = /^with(\s+recursive)?\s/i.exec(body);
  if (m) return `${head}${m[0]}${ctes.join(',\n')},\n${body.slice(m[0].length)}`;
  return `${head}with ${ctes.join(',\n')}\n${body}`;
}

/** Compiles `node` with its ephemeral ancestors inlined, each once, parents before children. */
function compileWithEphemerals(manifest: Manifest, node: ManifestNode, isIncremental: boolean, invocationId: string): string {
  const ctes: string[] = [];
  const done = new Set<string>();
  const visiting = new Set<string>();
  const cteOf = (id: string) => {
    if (done.has(id)) return;
    if (visiting.has(id)) throw new ModelRunnerError(`ephemeral cycle at ${id}`);
    visiting.add(id);
    const eph = manifest.nodes[id] as ManifestNode;
    const used: string[] = [];
    const sql = trimSql(render(manifest, eph, false, invocationId, used));
    used.forEach(cteOf);
    ctes.push(`${quoteIdent(EPHEMERAL_PREFIX + eph.name)} as (\n${sql}\n)`);
    done.add(id);
  };
  const used: string[] = [];
  const sql = trimSql(render(manifest, node, isIncremental, invocationId, used));
  used.forEach(cteOf);
  return injectCtes(sql, ctes);
}

function testedRelation(manifest: Manifest, node: ManifestNode): string {
  const project = manifest.metadata.project_name;
  if (node.attached_node) {
    const parent = manifest.nodes[node.attached_node];
    if (!parent) throw new SelectionError(node.attached_node, `${node.attached_node} is not in the manifest`);
    return parent.config.materialized === 'ephemeral'
      ? `(${compileWithEphemerals(manifest, parent, false, manifest.metadata.invocation_id)}) as ${quoteIdent(EPHEMERAL_PREFIX + parent.name)}`
      : parent.relation_name;
  }
  const [s, t] = node.sources[0] ?? [];
  const src = manifest.sources[sourceUniqueId(project, s ?? '', t ?? '')];
  if (!src) throw new SelectionError(node.unique_id, `${node.unique_id} tests no known relation`);
  return src.relation_name;
}

/** dbt's generic test SQL (dbt-adapters' `default__test_*` macros), columns quoted. */
function genericTestSql(manifest: Manifest, node: ManifestNode): string {
  const meta = node.test_metadata;
  if (!meta) throw new ModelRunnerError(`${node.unique_id} is not a generic test`);
  const model = testedRelation(manifest, node);
  const column = quoteIdent(String(meta.kwargs.column_name));
  switch (meta.name) {
    case 'not_null':
      return `select ${column}\nfrom ${model}\nwhere ${column} is null`;
    case 'unique':
      return `select\n    ${column} as unique_field,\n    count(*) as n_records\nfrom ${model}\nwhere ${column} is not null\ngroup by ${column}\nhaving count(*) > 1`;
    case 'accepted_values': {
      const values = meta.kwargs.values as unknown[];
      const quote = meta.kwargs.quote ?? true;
      const list = values.map((v) => {
        if (quote !== false) return quoteLiteral(String(v));
        if (typeof v === 'number' && Number.isFinite(v)) return String(v);
        if (typeof v === 'boolean') return v ? 'true' : 'false';
        throw new ModelRunnerError(`${node.unique_id}: with quote: false, accepted values must be numbers or booleans`);
      });
      return (
        `with all_values as (\n    select\n        ${column} as value_field,\n        count(*) as n_records\n    from ${model}\n    group by ${column}\n)\n` +
        `select *\nfrom all_values\nwhere value_field not in (\n    ${list.join(',')}\n)`
      );
    }
    case 'relationships': {
      const to = String(meta.kwargs.to);
      const ref = /^\s*ref\(\s*(['"])([^'"]+)\1\s*\)\s*$/.exec(to);
      const src = /^\s*source\(\s*(['"])([^'"]+)\1\s*,\s*(['"])([^'"]+)\3\s*\)\s*$/.exec(to);
      let parentRel: string;
      if (ref) parentRel = resolveRef(manifest, node, node.original_file_path, ref[2] as string, []);
      else if (src) {
        const s = manifest.sources[sourceUniqueId(manifest.metadata.project_name, src[2] as string, src[4] as string)];
        if (!s) throw new ModelRunnerError(`${node.unique_id}: unknown source in to:`);
        parentRel = s.relation_name;
      } else throw new ModelRunnerError(`${node.unique_id}: relationships to: must be ref() or source()`);
      const parent =
        manifest.nodes[
          [
            modelUniqueId(manifest.metadata.project_name, ref?.[2] ?? ''),
            seedUniqueId(manifest.metadata.project_name, ref?.[2] ?? ''),
          ].find((x) => manifest.nodes[x]) ?? ''
        ];
      if (parent?.config.materialized === 'ephemeral')
        parentRel = `(${compileWithEphemerals(manifest, parent, false, manifest.metadata.invocation_id)}) as ${quoteIdent(EPHEMERAL_PREFIX + parent.name)}`;
      const field = quoteIdent(String(meta.kwargs.field));
      return (
        `with child as (\n    select ${column} as from_field\n    from ${model}\n    where ${column} is not null\n),\n\n` +
        `parent as (\n    select ${field} as to_field\n    from ${parentRel}\n)\n\n` +
        `select\n    from_field\nfrom child\nleft join parent\n    on child.from_field = parent.to_field\nwhere parent.to_field is null`
      );
    }
    default:
      throw new ModelRunnerError(`${node.unique_id}: unknown generic test ${meta.name}`);
  }
}

/** The node `uniqueId` of `manifest` and its SQL, unwritten. */
function compileSql(manifest: Manifest, uniqueId: string, opts: CompileOptions): { node: ManifestNode; compiledCode: string } {
  const node = manifest.nodes[uniqueId];
  if (!node || node.resource_type === 'seed') {
    throw new SelectionError(uniqueId, `${uniqueId} is not a model or test of project ${manifest.metadata.project_name}`);
  }
  const compiledCode = node.test_metadata
    ? genericTestSql(manifest, node)
    : compileWithEphemerals(manifest, node, opts.isIncremental ?? false, opts.invocationId ?? manifest.metadata.invocation_id);
  if (compiledCode.trim() === '') throw new TemplateError(node.original_file_path, undefined, undefined, 'the node compiles to empty SQL');
  return { node, compiledCode };
}

/** Where a node's compiled SQL is written: `<target>/compiled/<project>/<original_file_path>[/<test path>]`. */
function compiledPathOf(manifest: Manifest, node: ManifestNode): string {
  const rel = node.test_metadata ? [...node.original_file_path.split('/'), node.path] : node.original_file_path.split('/');
  return path.join(manifest.target_dir, 'compiled', manifest.metadata.project_name, ...rel);
}

/**
 * Compiles one model or test of `manifest` with the manifest's vars.
 * @throws SelectionError when `uniqueId` is not a model or test of the manifest (seeds have no SQL).
 * @throws TemplateError (file, line, name) when rendering fails, e.g. a `ref()` that the parse did not
 *   see.
 */
export function compileNode(manifest: Manifest, uniqueId: string, opts: CompileOptions = {}): CompiledNode {
  const { node, compiledCode } = compileSql(manifest, uniqueId, opts);
  let compiledPath: string | undefined;
  if (opts.write ?? true) {
    compiledPath = compiledPathOf(manifest, node);
    fs.mkdirSync(path.dirname(compiledPath), { recursive: true });
    fs.writeFileSync(compiledPath, `${compiledCode}\n`);
  }
  return { uniqueId, compiledCode, compiledPath };
}

/**
 * {@link compileNode} with the file written asynchronously: the same SQL and the same file, written
 * before it resolves, but the event loop is free meanwhile, so the other nodes of a run go on while
 * the file system writes (rewriting a file of the previous build can wait on the disk for a
 * millisecond or more). What the executor uses.
 * @throws the errors of {@link compileNode}; the file system's when the file cannot be written.
 */
export async function compileNodeAsync(manifest: Manifest, uniqueId: string, opts: CompileOptions = {}): Promise<CompiledNode> {
  const { node, compiledCode } = compileSql(manifest, uniqueId, opts);
  let compiledPath: string | undefined;
  if (opts.write ?? true) {
    compiledPath = compiledPathOf(manifest, node);
    await fs.promises.mkdir(path.dirname(compiledPath), { recursive: true });
    await fs.promises.writeFile(compiledPath, `${compiledCode}\n`);
  }
  return { uniqueId, compiledCode, compiledPath };
}
