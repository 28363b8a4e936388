/**
 * Stage 2 (parse, discovery → manifest): renders every model once with recording `ref()`, `source()`
 * and `config()` (like dbt's parse), resolves each model's config and builds the manifest: nodes keyed
 * by `model.<project>.<name>`, sources keyed by `source.<project>.<source>.<table>`, parent and child
 * maps.
 */
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { ProjectError, TemplateError } from './errors';
import { MAX_IDENTIFIER_BYTES, quoteIdent, quoteRelation } from './identifiers';
import { parseConfigValue } from './project';
import { CONTEXT_FUNCTIONS, isIncremental, makeVar, refName, sourceArgs } from './context';
import { analyzeTemplate, RenderState, renderTemplate, splitKeywords, type TemplateCall } from './template';
import type { FolderConfig, Manifest, ManifestNode, ManifestSource, Materialization, ModelConfig, ModelFile, Project } from './types';

/** Materializations this version builds. */
export const MATERIALIZATIONS: readonly Materialization[] = ['view', 'table'];

/** Schema models are built in unless configured otherwise. @default 'analytics' */
export const DEFAULT_SCHEMA = 'analytics';

/** Longest suffix added to a relation name during a swap (`__dbt_backup`); aliases leave room for it. */
export const SWAP_SUFFIX_BYTES = '__dbt_backup'.length;

/** Options of {@link buildManifest}. */
export interface ManifestOptions {
  /** Run vars; override the project's `vars:`. @default {} */
  vars?: Record<string, unknown>;
  /** Schema of models without a `schema` config. @default {@link DEFAULT_SCHEMA} */
  defaultSchema?: string;
  /** Artifacts folder (absolute or relative to the project). @default the project's target-path */
  targetDir?: string;
}

export const modelUniqueId = (project: string, name: string) => `model.${project}.${name}`;
export const sourceUniqueId = (project: string, source: string, table: string) => `source.${project}.${source}.${table}`;

function mergeConfig(into: Partial<ModelConfig>, from: Partial<ModelConfig>): void {
  for (const [k, v] of Object.entries(from)) {
    if (k === 'tags') into.tags = [...(into.tags ?? []), ...(v as string[])];
    else (into as Record<string, unknown>)[k] = v;
  }
}

/** Folder configs along `model.path` (relative to its model path), outermost first. */
function folderConfigFor(root: FolderConfig, model: ModelFile): Partial<ModelConfig> {
  const out: Partial<ModelConfig> = {};
  mergeConfig(out, root.config);
  let node: FolderConfig | undefined = root;
  const parts = model.path.split('/');
  for (const dir of parts.slice(0, -1)) {
    node = node?.children[dir];
    if (!node) break;
    mergeConfig(out, node.config);
  }
  // A key named like the model configures that model (dbt allows `marts: { my_model: {...} }`).
  const own = node?.children[model.name];
  if (own) mergeConfig(out, own.config);
  return out;
}

function lineOf(calls: TemplateCall[], fn: string, firstArg: string): number | undefined {
  return calls.find((c) => c.name === fn && c.args.includes(firstArg))?.line;
}

/**
 * Builds the manifest of `project`.
 * @throws TemplateError (file, line, name) for syntax errors, unknown functions, unset vars, a `ref()`
 *   to no model or a `source()` to no declared source.
 * @throws ProjectError for duplicate model names, unsupported materializations, unsafe schema/alias.
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
    const schema = renderTemplate(s.originalFilePath, s.schema, { var: state.guard(makeVar(s.originalFilePath, vars)) }, state).trim();
    sources[id] = {
      unique_id: id,
      resource_type: 'source',
      package_name: project.name,
      source_name: s.sourceName,
      name: s.name,
      schema,
      identifier: s.identifier,
      relation_name: quoteRelation(schema, s.identifier),
      description: s.description,
      columns: s.columns,
      original_file_path: s.originalFilePath,
      fqn: [project.name, s.sourceName, s.name],
    };
  }

  const patches = new Map(project.modelPatches.map((p) => [p.name, p]));
  const nodes: Record<string, ManifestNode> = {};
  const seen = new Map<string, string>();
  const pendingRefs: { node: ManifestNode; calls: TemplateCall[] }[] = [];

  for (const model of project.models) {
    const file = model.originalFilePath;
    const calls = analyzeTemplate(file, model.rawCode, CONTEXT_FUNCTIONS);
    const refs: { name: string }[] = [];
    const srcs: [string, string][] = [];
    const inFile: Partial<ModelConfig> = {};
    const state = new RenderState();
    const placeholder = quoteRelation('__parse__', model.name);
    renderTemplate(
      file,
      model.rawCode,
      {
        ref: state.guard((...a: unknown[]) => {
          const name = refName(file, project.name, a);
          if (!refs.some((r) => r.name === name)) refs.push({ name });
          return quoteRelation('__parse__', name);
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
        is_incremental: isIncremental,
        this: placeholder,
      },
      state,
    );

    const patch = patches.get(model.name);
    const merged: Partial<ModelConfig> = {};
    mergeConfig(merged, folderConfigFor(project.folderConfig, model));
    if (patch) mergeConfig(merged, patch.config);
    mergeConfig(merged, inFile);
    const config: ModelConfig = {
      materialized: merged.materialized ?? 'view',
      schema: merged.schema ?? defaultSchema,
      alias: merged.alias ?? model.name,
      tags: [...new Set(merged.tags ?? [])],
      enabled: merged.enabled ?? true,
    };
    if (!config.enabled) continue;
    if (!MATERIALIZATIONS.includes(config.materialized)) {
      throw new ProjectError(file, `materialized '${config.materialized}' is not supported (supported: ${MATERIALIZATIONS.join(', ')})`);
    }
    try {
      quoteIdent(config.schema);
      quoteIdent(config.alias, MAX_IDENTIFIER_BYTES - SWAP_SUFFIX_BYTES);
    } catch (e) {
      throw new ProjectError(file, (e as Error).message);
    }
    const other = seen.get(model.name);
    if (other) throw new ProjectError(file, `model name ${model.name} is also used by ${other}; model names must be unique`);
    seen.set(model.name, file);

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
      relation_name: quoteRelation(config.schema, config.alias),
      config,
      tags: config.tags,
      description: patch?.description ?? '',
      columns: patch?.columns ?? {},
      refs,
      sources: srcs,
      depends_on: { nodes: [], macros: [] },
      raw_code: model.rawCode,
    };
    nodes[uniqueId] = node;
    pendingRefs.push({ node, calls });
  }

  // Dependencies, once every enabled model is known.
  for (const { node, calls } of pendingRefs) {
    const deps: string[] = [];
    for (const r of node.refs) {
      const id = modelUniqueId(project.name, r.name);
      if (!nodes[id]) {
        throw new TemplateError(node.original_file_path, lineOf(calls, 'ref', r.name), r.name, `ref('${r.name}') names no enabled model`);
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
    parent_map: parentMap,
    child_map: childMap,
    vars,
    project_root: project.root,
    target_dir: targetDir,
  };
}
