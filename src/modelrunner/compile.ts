/**
 * Stage 4 (compile): renders one model with `ref()` → the parent's quoted relation
 * (`"analytics"."stg_sensor_readings"`), `source()` → the declared table (`"ingest"."sensor_readings"`),
 * `var()`, `config()` → '' and `is_incremental()` → false, and writes the result to
 * `<target>/compiled/<project>/<original_file_path>` (dbt's layout).
 */
import fs from 'node:fs';
import path from 'node:path';
import { SelectionError, TemplateError } from './errors';
import { CONTEXT_FUNCTIONS, isIncremental, makeVar, refName, sourceArgs } from './context';
import { modelUniqueId, sourceUniqueId } from './manifest';
import { analyzeTemplate, RenderState, renderTemplate } from './template';
import type { Manifest } from './types';

/** A compiled model. */
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
}

/**
 * Compiles one model of `manifest` with the manifest's vars.
 * @throws SelectionError when `uniqueId` is not a model of the manifest.
 * @throws TemplateError (file, line, name) when rendering fails, e.g. a `ref()` that the parse did not
 *   see (refs inside branches that depend on vars must be visible with the parse's vars too).
 */
export function compileNode(manifest: Manifest, uniqueId: string, opts: CompileOptions = {}): CompiledNode {
  const node = manifest.nodes[uniqueId];
  if (!node) throw new SelectionError(uniqueId, `${uniqueId} is not a model of project ${manifest.metadata.project_name}`);
  const file = node.original_file_path;
  const project = manifest.metadata.project_name;
  analyzeTemplate(file, node.raw_code, CONTEXT_FUNCTIONS);
  const state = new RenderState();
  const rendered = renderTemplate(
    file,
    node.raw_code,
    {
      ref: state.guard((...a: unknown[]) => {
        const name = refName(file, project, a);
        const id = modelUniqueId(project, name);
        const parent = manifest.nodes[id];
        if (!parent || !node.depends_on.nodes.includes(id)) {
          throw new TemplateError(file, undefined, name, `ref('${name}') was not seen when the project was parsed`);
        }
        return parent.relation_name;
      }),
      source: state.guard((...a: unknown[]) => {
        const [s, t] = sourceArgs(file, a);
        const src = manifest.sources[sourceUniqueId(project, s, t)];
        if (!src) throw new TemplateError(file, undefined, `${s}.${t}`, `source('${s}', '${t}') is not declared`);
        return src.relation_name;
      }),
      config: () => '',
      var: state.guard(makeVar(file, manifest.vars)),
      is_incremental: isIncremental,
      this: node.relation_name,
    },
    state,
  );
  const compiledCode = rendered.replace(/[\s;]+$/, '').trimStart();
  if (compiledCode === '') throw new TemplateError(file, undefined, undefined, 'the model compiles to empty SQL');
  let compiledPath: string | undefined;
  if (opts.write ?? true) {
    compiledPath = path.join(manifest.target_dir, 'compiled', project, ...node.original_file_path.split('/'));
    fs.mkdirSync(path.dirname(compiledPath), { recursive: true });
    fs.writeFileSync(compiledPath, `${compiledCode}\n`);
  }
  return { uniqueId, compiledCode, compiledPath };
}
