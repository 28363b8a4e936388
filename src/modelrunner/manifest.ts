/**
 * Stage 2 (parse, discovery → manifest): renders every model and singular test once with recording
 * `ref()`, `source()` and `config()` (like dbt's parse), resolves each node's config and builds the
 * manifest: models `model.<project>.<name>`, seeds `seed.<project>.<name>`, tests
 * `test.<project>.<test name>[.<hash>]`, sources `source.<project>.<source>.<table>`, parent and child
 * maps. `ref()` calls are also found statically (literal arguments), so a ref inside
 * `{% if is_incremental() %}` is a dependency too.
 */
import path from 'node:path';
import { createHash, randomUUID } from 'node:crypto';
import { ProjectError, TemplateError } from './errors';
import { MAX_IDENTIFIER_BYTES, quoteIdent, quoteRelation } from './identifiers';
import { parseConfigValue } from './project';
import { CONTEXT_FUNCTIONS, JINJA_LITERALS, makeEnvVar, makeVar, refName, sourceArgs } from './context';
import { analyzeTemplate, RenderState, renderTemplate, splitKeywords, type TemplateCall } from './template';
import type {
  FolderConfig,
  GenericTestDecl,
  Manifest,
  ManifestNode,
  ManifestSource,
  Materialization,
  ModelConfig,
  ModelFile,
  Project,
} from './types';

/** Materializations of models this version builds. */
export const MATERIALIZATIONS: readonly Materialization[] = ['view', 'table', 'incremental', 'ephemeral'];

/** Schema models are built in unless configured otherwise. @default 'analytics' */
export const DEFAULT_SCHEMA = 'analytics';

/** Longest suffix added to a relation name during a swap (`__dbt_backup`); aliases leave room for it. */
export const SWAP_SUFFIX_BYTES = '__dbt_backup'.length;

/** Prefix of the CTE an ephemeral model is inlined as (dbt's). */
export const EPHEMERAL_PREFIX = '__dbt__cte__';

/** Options of {@link buildManifest}. */
export interface ManifestOptions {
  /** Run vars; override the project's `vars:`. @default {} */
  vars?: Record<string, unknown>;
  /** Schema of nodes without a `schema` config. @default {@link DEFAULT_SCHEMA} */
  defaultSchema?: string;
  /** Artifacts folder (absolute or relative to the project). @default the project's target-path */
  targetDir?: string;
}

export const modelUniqueId = (project: string, name: string) => `model.${project}.${name}`;
export const seedUniqueId = (project: string, name: string) => `seed.${project}.${name}`;
export const sourceUniqueId = (project: string, source: string, table: string) => `source.${project}.${source}.${table}`;

function mergeConfig(into: Partial<ModelConfig>, from: Partial<ModelConfig>): void {
  for (const [k, v] of Object.entries(from)) {
    if (k === 'tags') into.tags = [...(into.tags ?? []), ...(v as string[])];
    else if (k === 'column_types') into.column_types = { ...(into.column_types ?? {}), ...(v as Record<string, string>) };
    else (into as Record<string, unknown>)[k] = v;
  }
}

/** Folder configs along `dirs`, outermost first; a key named like the node configures that node. */
function configAlong(root: FolderConfig, dirs: string[], name: string): Partial<ModelConfig> {
  const out: Partial<ModelConfig> = {};
  mergeConfig(out, root.config);
  let node: FolderConfig | undefined = root;
  for (const dir of dirs) {
    node = node?.children[dir];
    if (!node) break;
    mergeConfig(out, node.config);
  }
  const own = node?.children[name];
  if (own) mergeConfig(out, own.config);
  return out;
}

function folderConfigFor(root: FolderConfig, model: Pick<ModelFile, 'path' | 'name'>): Partial<ModelConfig> {
  return configAlong(root, model.path.split('/').slice(0, -1), model.name);
}

function lineOf(calls: TemplateCall[], fn: string, firstArg: string): number | undefined {
  return calls.find((c) => c.name === fn && c.args.includes(firstArg))?.line;
}

function shortHash(text: string, n = 10): string {
  return createHash('md5').update(text).digest('hex').slice(0, n);
}

/** Renders a description with `doc('name')` and `var()`; plain text is returned as is. */
function renderDescription(project: Project, file: string, text: string, vars: Record<string, unknown>): string {
  if (!text.includes('{')) return text;
  const state = new RenderState();
  return renderTemplate(
    file,
    text,
    {
      doc: state.guard((...a: unknown[]) => {
        const { positional } = splitKeywords(a);
        const name = positional[positional.length - 1];
        if (typeof name !== 'string') throw new TemplateError(file, undefined, 'doc', `doc() takes a docs block name`);
        const block = project.docs[name];
        if (!block) throw new TemplateError(file, undefined, name, `doc('${name}'): no {% docs ${name} %} block in the project`);
        return block.text;
      }),
      var: state.guard(makeVar(file, vars)),
      ...JINJA_LITERALS,
    },
    state,
  );
}

function describeColumns(
  project: Project,
  file: string,
  cols: Record<string, { name: string; description: string }>,
  vars: Record<string, unknown>,
): Record<string, { name: string; description: string }> {
  const out: Record<string, { name: string; description: string }> = {};
  for (const [k, c] of Object.entries(cols)) out[k] = { name: c.name, description: renderDescription(project, file, c.description, vars) };
  return out;
}

/** Static `ref('x')` / `ref('pkg', 'x')` calls with literal arguments. */
function staticRefs(calls: TemplateCall[]): string[] {
  return calls
    .filter((c) => c.name === 'ref' && c.args.length >= 1 && c.args.length <= 2 && c.args.every((a) => typeof a === 'string'))
    .map((c) => c.args[c.args.length - 1] as string);
}

/** `invocation_id` while parsing (the run's own is known only when a node compiles). */
const PARSE_INVOCATION_ID = '00000000-0000-0000-0000-000000000000';

/** What one discovery render of a template found. */
interface Discovered {
  refs: { name: string }[];
  sources: [string, string][];
  config: Partial<ModelConfig>;
  calls: TemplateCall[];
}

function discover(
  project: Project,
  file: string,
  rawCode: string,
  vars: Record<string, unknown>,
  sources: Record<string, ManifestSource>,
  name: string,
): Discovered {
  const calls = analyzeTemplate(file, rawCode, CONTEXT_FUNCTIONS);
  const refs: { name: string }[] = [];
  const srcs: [string, string][] = [];
  const inFile: Partial<ModelConfig> = {};
  const state = new RenderState();
  const addRef = (n: string) => {
    if (!refs.some((r) => r.name === n)) refs.push({ name: n });
  };
  renderTemplate(
    file,
    rawCode,
    {
      ref: state.guard((...a: unknown[]) => {
        const n = refName(file, project.name, a);
        addRef(n);
        return quoteRelation('__parse__', n);
      }),
      source: state.guard((...a: unknown[]) => {
        const [s, t] = sourceArgs(file, a);
        if (!sources[sourceUniqueId(project.name, s, t)]) {
          throw new TemplateError(file, undefined, `${s}.${t}`, `source('${s}', '${t}') is not declared in any schema.yml sources: block`);
        }
        if (!srcs.some(([x, y]) => x === s && y === t)) srcs.push([s, t]);
        return quoteRelation('__parse__', t);
      }),
      config: state.guard((...a: unknown[]) => {
        const { positional, keywords } = splitKeywords(a);
        const fromDict = positional[0] && typeof positional[0] === 'object' ? (positional[0] as Record<string, unknown>) : {};
        for (const [k, v] of Object.entries({ ...fromDict, ...keywords })) {
          try {
            mergeConfig(inFile, parseConfigValue(file, k, v));
          } catch (e) {
            throw new TemplateError(file, undefined, 'config', (e as Error).message);
          }
        }
        return '';
      }),
      var: state.guard(makeVar(file, vars)),
      env_var: state.guard(makeEnvVar(file)),
      is_incremental: () => false,
      this: quoteRelation('__parse__', name),
      invocation_id: PARSE_INVOCATION_ID,
      ...JINJA_LITERALS,
    },
    state,
  );
  // Refs in branches the parse render did not take (`{% if is_incremental() %}`) are dependencies too.
  for (const n of staticRefs(calls)) addRef(n);
  return { refs, sources: srcs, config: inFile, calls };
}

/** dbt's generic test name: `<test>_<model>_<args…>` (non-word characters → `_`), hashed when ≥ 64 characters. */
function genericTestName(decl: GenericTestDecl, kwargs: Record<string, unknown>): string {
  const flat: string[] = [];
  for (const key of Object.keys(kwargs).sort()) {
    const v = kwargs[key];
    const parts = Array.isArray(v) ? v : v && typeof v === 'object' ? Object.values(v) : [v];
    flat.push(...parts.map((x) => String(x)));
  }
  const unique = flat.map((a) => a.replace(/[^0-9a-zA-Z_]+/g, '_')).join('__');
  const target = decl.attachedTo.kind === 'source' ? `source_${decl.attachedTo.sourceName}_${decl.attachedTo.name}` : decl.attachedTo.name;
  const prefix = decl.attachedTo.kind === 'source' ? `source_${decl.testName}` : decl.testName;
  const full = `${prefix}_${target.replace(/^source_/, '')}_${unique}`;
  return full.length >= 64 ? `${prefix.slice(0, 30)}_${createHash('md5').update(full).digest('hex')}` : full;
}

const REF_ARG = /^\s*ref\(\s*(['"])([^'"]+)\1\s*\)\s*$/;
const SOURCE_ARG = /^\s*source\(\s*(['"])([^'"]+)\1\s*,\s*(['"])([^'"]+)\3\s*\)\s*$/;

/**
 * Builds the manifest of `project`.
 * @throws TemplateError (file, line, name) for syntax errors, unknown functions, unset vars, a `ref()`
 *   to no model or seed, a `source()` to no declared source, an unknown `doc()`.
 * @throws ProjectError for duplicate names, unsupported materializations, unsafe schema/alias, a data
 *   test on an unknown node.
 */
export function buildManifest(project: Project, opts: ManifestOptions = {}): Manifest {
  const vars = { ...project.vars, ...(opts.vars ?? {}) };
  const defaultSchema = opts.defaultSchema ?? DEFAULT_SCHEMA;
  const targetDir = path.resolve(project.root, opts.targetDir ?? project.targetPath);

  // Sources: schema may use var().
  const sources: Record<string, ManifestSource> = {};
  for (const s of project.sources) {
    const id = sourceUniqueId(project.name, s.sourceName, s.name);
    if (sources[id]) throw new ProjectError(s.originalFilePath, `source ${s.sourceName}.${s.name} is declared twice`);
    const state = new RenderState();
    const schema = renderTemplate(
      s.originalFilePath,
      s.schema,
      { var: state.guard(makeVar(s.originalFilePath, vars)), ...JINJA_LITERALS },
      state,
    ).trim();
    sources[id] = {
      unique_id: id,
      resource_type: 'source',
      package_name: project.name,
      source_name: s.sourceName,
      name: s.name,
      schema,
      identifier: s.identifier,
      relation_name: quoteRelation(schema, s.identifier),
      description: renderDescription(project, s.originalFilePath, s.description, vars),
      columns: describeColumns(project, s.originalFilePath, s.columns, vars),
      original_file_path: s.originalFilePath,
      fqn: [project.name, s.sourceName, s.name],
    };
  }

  const modelPatches = new Map(project.modelPatches.map((p) => [p.name, p]));
  const seedPatches = new Map(project.seedPatches.map((p) => [p.name, p]));
  const nodes: Record<string, ManifestNode> = {};
  const seen = new Map<string, string>();
  const pendingRefs: { node: ManifestNode; calls: TemplateCall[] }[] = [];
  const claimName = (name: string, file: string) => {
    const other = seen.get(name);
    if (other) throw new ProjectError(file, `name ${name} is also used by ${other}; model and seed names must be unique`);
    seen.set(name, file);
  };
  const checkRelation = (file: string, config: ModelConfig) => {
    try {
      quoteIdent(config.schema);
      quoteIdent(config.alias, MAX_IDENTIFIER_BYTES - SWAP_SUFFIX_BYTES);
      for (const k of config.unique_key ?? []) quoteIdent(k);
      for (const c of Object.keys(config.column_types ?? {})) quoteIdent(c);
    } catch (e) {
      throw new ProjectError(file, (e as Error).message);
    }
  };
  const resolve = (merged: Partial<ModelConfig>, name: string, materialized: ModelConfig['materialized']): ModelConfig => ({
    ...merged,
    materialized,
    schema: merged.schema ?? defaultSchema,
    alias: merged.alias ?? name,
    tags: [...new Set(merged.tags ?? [])],
    enabled: merged.enabled ?? true,
  });

  for (const model of project.models) {
    const file = model.originalFilePath;
    const d = discover(project, file, model.rawCode, vars, sources, model.name);
    const patch = modelPatches.get(model.name);
    const merged: Partial<ModelConfig> = {};
    mergeConfig(merged, folderConfigFor(project.folderConfig, model));
    if (patch) mergeConfig(merged, patch.config);
    mergeConfig(merged, d.config);
    const config = resolve(merged, model.name, merged.materialized ?? 'view');
    if (!config.enabled) continue;
    if (!(MATERIALIZATIONS as readonly string[]).includes(config.materialized)) {
      throw new ProjectError(file, `materialized '${config.materialized}' is not supported (supported: ${MATERIALIZATIONS.join(', ')})`);
    }
    checkRelation(file, config);
    claimName(model.name, file);
    const uniqueId = modelUniqueId(project.name, model.name);
    const dirs = model.path.split('/').slice(0, -1);
    const node: ManifestNode = {
      unique_id: uniqueId,
      resource_type: 'model',
      package_name: project.name,
      name: model.name,
      path: model.path,
      original_file_path: file,
      fqn: [project.name, ...dirs, model.name],
      schema: config.schema,
      alias: config.alias,
      relation_name:
        config.materialized === 'ephemeral' ? quoteIdent(EPHEMERAL_PREFIX + model.name) : quoteRelation(config.schema, config.alias),
      config,
      tags: config.tags,
      description: patch ? renderDescription(project, patch.originalFilePath, patch.description, vars) : '',
      columns: patch ? describeColumns(project, patch.originalFilePath, patch.columns, vars) : {},
      refs: d.refs,
      sources: d.sources,
      depends_on: { nodes: [], macros: [] },
      raw_code: model.rawCode,
    };
    nodes[uniqueId] = node;
    pendingRefs.push({ node, calls: d.calls });
  }

  for (const seed of project.seeds) {
    const file = seed.originalFilePath;
    const patch = seedPatches.get(seed.name);
    const merged: Partial<ModelConfig> = {};
    mergeConfig(merged, folderConfigFor(project.seedFolderConfig, seed));
    if (patch) mergeConfig(merged, patch.config);
    const config = resolve(merged, seed.name, 'seed');
    if (!config.enabled) continue;
    checkRelation(file, config);
    claimName(seed.name, file);
    const uniqueId = seedUniqueId(project.name, seed.name);
    nodes[uniqueId] = {
      unique_id: uniqueId,
      resource_type: 'seed',
      package_name: project.name,
      name: seed.name,
      path: seed.path,
      original_file_path: file,
      fqn: [project.name, ...seed.path.split('/').slice(0, -1), seed.name],
      schema: config.schema,
      alias: config.alias,
      relation_name: quoteRelation(config.schema, config.alias),
      config,
      tags: config.tags,
      description: patch ? renderDescription(project, patch.originalFilePath, patch.description, vars) : '',
      columns: patch ? describeColumns(project, patch.originalFilePath, patch.columns, vars) : {},
      refs: [],
      sources: [],
      depends_on: { nodes: [], macros: [] },
      raw_code: '',
    };
  }

  // Singular tests: SQL files returning failing rows.
  for (const t of project.singularTests) {
    const file = t.originalFilePath;
    const d = discover(project, file, t.rawCode, vars, sources, t.name);
    const merged: Partial<ModelConfig> = {};
    mergeConfig(merged, configAlong(project.testFolderConfig, t.path.split('/').slice(0, -1), t.name));
    mergeConfig(merged, d.config);
    const config = resolve(merged, t.name, 'test');
    if (!config.enabled) continue;
    const uniqueId = `test.${project.name}.${t.name}`;
    if (nodes[uniqueId]) throw new ProjectError(file, `test name ${t.name} is used twice`);
    const node: ManifestNode = {
      unique_id: uniqueId,
      resource_type: 'test',
      package_name: project.name,
      name: t.name,
      path: t.path,
      original_file_path: file,
      fqn: [project.name, ...t.path.split('/').slice(0, -1), t.name],
      schema: config.schema,
      alias: config.alias,
      relation_name: '',
      config,
      tags: config.tags,
      description: '',
      columns: {},
      refs: d.refs,
      sources: d.sources,
      depends_on: { nodes: [], macros: [] },
      raw_code: t.rawCode,
      column_name: null,
      attached_node: null,
    };
    nodes[uniqueId] = node;
    pendingRefs.push({ node, calls: d.calls });
  }

  // Generic tests from property files.
  for (const decl of project.genericTests) {
    const file = decl.originalFilePath;
    const kwargs: Record<string, unknown> = { ...decl.kwargs };
    const column = decl.columnName ?? (kwargs.column_name as string);
    kwargs.column_name = column;
    let attached: string | null = null;
    const refs: { name: string }[] = [];
    const srcs: [string, string][] = [];
    if (decl.attachedTo.kind === 'source') {
      if (!sources[sourceUniqueId(project.name, decl.attachedTo.sourceName, decl.attachedTo.name)]) {
        throw new ProjectError(file, `test ${decl.testName} on unknown source ${decl.attachedTo.sourceName}.${decl.attachedTo.name}`);
      }
      srcs.push([decl.attachedTo.sourceName, decl.attachedTo.name]);
    } else {
      const id =
        decl.attachedTo.kind === 'model'
          ? modelUniqueId(project.name, decl.attachedTo.name)
          : seedUniqueId(project.name, decl.attachedTo.name);
      if (!nodes[id]) {
        const declared = decl.attachedTo.kind === 'model' ? project.models : project.seeds;
        if (declared.some((m) => m.name === decl.attachedTo.name)) continue; // disabled
        throw new ProjectError(file, `test ${decl.testName} on ${decl.attachedTo.kind} ${decl.attachedTo.name}, which does not exist`);
      }
      attached = id;
      refs.push({ name: decl.attachedTo.name });
    }
    if (decl.testName === 'relationships') {
      const to = String(kwargs.to);
      const r = REF_ARG.exec(to);
      const s = SOURCE_ARG.exec(to);
      if (r) refs.push({ name: r[2] as string });
      else if (s) {
        if (!sources[sourceUniqueId(project.name, s[2] as string, s[4] as string)]) {
          throw new ProjectError(file, `relationships to: ${to} names an undeclared source`);
        }
        srcs.push([s[2] as string, s[4] as string]);
      } else throw new ProjectError(file, `relationships to: must be "ref('model')" or "source('s', 't')", got ${JSON.stringify(to)}`);
    }
    const merged: Partial<ModelConfig> = {};
    mergeConfig(merged, configAlong(project.testFolderConfig, [], ''));
    mergeConfig(merged, decl.config);
    const name = decl.name ?? genericTestName(decl, kwargs);
    const config = resolve(merged, name, 'test');
    if (!config.enabled) continue;
    const uniqueId = `test.${project.name}.${name}.${shortHash(JSON.stringify([decl.attachedTo, decl.testName, kwargs]))}`;
    if (nodes[uniqueId]) continue; // the same test declared twice
    const node: ManifestNode = {
      unique_id: uniqueId,
      resource_type: 'test',
      package_name: project.name,
      name,
      path: `${name}.sql`,
      original_file_path: file,
      fqn: [project.name, ...path.posix.dirname(file).split('/').slice(1), name],
      schema: config.schema,
      alias: config.alias.slice(0, MAX_IDENTIFIER_BYTES),
      relation_name: '',
      config,
      tags: config.tags,
      description: '',
      columns: {},
      refs,
      sources: srcs,
      depends_on: { nodes: [], macros: [] },
      raw_code: '',
      test_metadata: { name: decl.testName, kwargs },
      column_name: column,
      attached_node: attached,
    };
    nodes[uniqueId] = node;
    pendingRefs.push({ node, calls: [] });
  }

  // Dependencies, once every enabled node is known. ref() reaches models and seeds.
  for (const { node, calls } of pendingRefs) {
    const deps: string[] = [];
    for (const r of node.refs) {
      const id = [modelUniqueId(project.name, r.name), seedUniqueId(project.name, r.name)].find((x) => nodes[x] !== undefined);
      if (!id) {
        throw new TemplateError(
          node.original_file_path,
          lineOf(calls, 'ref', r.name),
          r.name,
          `ref('${r.name}') names no enabled model or seed`,
        );
      }
      if (!deps.includes(id)) deps.push(id);
    }
    for (const [s, t] of node.sources) {
      const id = sourceUniqueId(project.name, s, t);
      if (!deps.includes(id)) deps.push(id);
    }
    node.depends_on.nodes = deps;
  }

  const parentMap: Record<string, string[]> = {};
  const childMap: Record<string, string[]> = {};
  for (const id of [...Object.keys(nodes), ...Object.keys(sources)]) childMap[id] = [];
  for (const node of Object.values(nodes)) {
    parentMap[node.unique_id] = [...node.depends_on.nodes];
    for (const p of node.depends_on.nodes) childMap[p]?.push(node.unique_id);
  }
  for (const id of Object.keys(sources)) parentMap[id] = [];

  return {
    metadata: {
      dbt_schema_version: 'https://schemas.getdbt.com/dbt/manifest/v12.json',
      generated_at: new Date().toISOString(),
      invocation_id: randomUUID(),
      project_name: project.name,
      adapter_type: 'postgres',
    },
    nodes,
    sources,
    docs: Object.fromEntries(
      Object.entries(project.docs).map(([name, d]) => [
        `doc.${project.name}.${name}`,
        {
          unique_id: `doc.${project.name}.${name}`,
          name,
          block_contents: d.text,
          original_file_path: d.file,
          package_name: project.name,
          resource_type: 'doc' as const,
        },
      ]),
    ),
    parent_map: parentMap,
    child_map: childMap,
    vars,
    project_root: project.root,
    target_dir: targetDir,
  };
}
