/**
 * Stage 1 (parse, reading): `dbt_project.yml`, every `*.sql` under the model paths and every
 * `*.yml`/`*.yaml` property file (`sources:` and `models:` blocks). Nothing is rendered here.
 *
 * Supported `dbt_project.yml` keys (https://docs.getdbt.com/reference/dbt_project.yml):
 * ```yaml
 * name: iot_pipelines            # required, [A-Za-z_][A-Za-z0-9_]*
 * version: '1.0'
 * model-paths: [models]          # @default [models]
 * seed-paths: [seeds]            # @default [seeds]
 * target-path: target            # @default target
 * vars: { ingest_schema: ingest }
 * models:
 *   iot_pipelines:
 *     +materialized: view        # + keys are configs: materialized, schema, alias, tags, enabled
 *     marts:                     # other keys are folders under the model paths
 *       +materialized: table
 * ```
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ProjectError } from './errors';
import type { FolderConfig, ModelConfig, ModelFile, ModelPatch, Project, SourceTableDecl } from './types';

/** Config keys recognised in folder configs, schema.yml `config:` and `config()`. */
export const CONFIG_KEYS = ['materialized', 'schema', 'alias', 'tags', 'enabled'] as const;

const projectSchema = z.object({
  name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must match [A-Za-z_][A-Za-z0-9_]*'),
  version: z.union([z.string(), z.number()]).optional(),
  'model-paths': z.array(z.string()).optional(),
  'seed-paths': z.array(z.string()).optional(),
  'target-path': z.string().optional(),
  vars: z.record(z.string(), z.unknown()).optional(),
  models: z.record(z.string(), z.unknown()).optional(),
});

const columnsSchema = z
  .array(z.object({ name: z.string(), description: z.string().optional() }).loose())
  .optional();

const propertiesSchema = z
  .object({
    version: z.number().optional(),
    sources: z
      .array(
        z
          .object({
            name: z.string(),
            schema: z.string().optional(),
            description: z.string().optional(),
            tables: z.array(
              z
                .object({
                  name: z.string(),
                  identifier: z.string().optional(),
                  description: z.string().optional(),
                  columns: columnsSchema,
                })
                .loose(),
            ),
          })
          .loose(),
      )
      .optional(),
    models: z
      .array(
        z
          .object({
            name: z.string(),
            description: z.string().optional(),
            config: z.record(z.string(), z.unknown()).optional(),
            columns: columnsSchema,
          })
          .loose(),
      )
      .optional(),
  })
  .loose();

function toPosix(p: string): string {
  return p.split(path.sep).join('/');
}

function readYaml(file: string, rel: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ProjectError(rel, `cannot read: ${(e as Error).message}`);
  }
  try {
    return parseYaml(text) ?? {};
  } catch (e) {
    throw new ProjectError(rel, `invalid YAML: ${(e as Error).message}`);
  }
}

function zodMessage(e: z.ZodError): string {
  return e.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}

/**
 * Reads a config value for `key` from a YAML mapping value; validates the type.
 * @throws ProjectError on a wrong type.
 */
export function parseConfigValue(file: string, key: string, value: unknown): Partial<ModelConfig> {
  switch (key) {
    case 'materialized':
    case 'schema':
    case 'alias':
      if (typeof value !== 'string' || value === '') throw new ProjectError(file, `config ${key} must be a non-empty string`);
      return { [key]: value };
    case 'enabled':
      if (typeof value !== 'boolean') throw new ProjectError(file, `config enabled must be true or false`);
      return { enabled: value };
    case 'tags': {
      const tags = typeof value === 'string' ? [value] : value;
      if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string')) {
        throw new ProjectError(file, `config tags must be a string or a list of strings`);
      }
      return { tags };
    }
    default:
      return {}; // other dbt configs (meta, docs, ...) are accepted and ignored
  }
}

function parseFolderConfig(file: string, node: unknown, where: string): FolderConfig {
  const out: FolderConfig = { config: {}, children: {} };
  if (node === null || node === undefined) return out;
  if (typeof node !== 'object' || Array.isArray(node)) throw new ProjectError(file, `models.${where} must be a mapping`);
  for (const [key, value] of Object.entries(node as Record<string, unknown>)) {
    const isPlus = key.startsWith('+');
    const bare = isPlus ? key.slice(1) : key;
    const isConfig = isPlus || ((CONFIG_KEYS as readonly string[]).includes(bare) && (typeof value !== 'object' || Array.isArray(value)));
    if (isConfig) Object.assign(out.config, parseConfigValue(file, bare, value));
    else out.children[key] = parseFolderConfig(file, value, `${where}.${key}`);
  }
  return out;
}

function walk(dir: string, exts: string[]): string[] {
  if (!fs.existsSync(dir)) return [];
  const out: string[] = [];
  const entries = fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(full, exts));
    else if (e.isFile() && exts.some((x) => e.name.endsWith(x))) out.push(full);
  }
  return out;
}

function columns(list: { name: string; description?: string }[] | undefined): Record<string, { name: string; description: string }> {
  const out: Record<string, { name: string; description: string }> = {};
  for (const c of list ?? []) out[c.name] = { name: c.name, description: c.description ?? '' };
  return out;
}

/**
 * Reads a dbt-style project from disk.
 * @param projectDir folder holding `dbt_project.yml`.
 * @throws ProjectError when `dbt_project.yml` or a property file is missing/invalid, or a model path
 *   escapes the project directory.
 */
export function loadProject(projectDir: string): Project {
  const root = path.resolve(projectDir);
  const projectFile = 'dbt_project.yml';
  const parsed = projectSchema.safeParse(readYaml(path.join(root, projectFile), projectFile));
  if (!parsed.success) throw new ProjectError(projectFile, zodMessage(parsed.error));
  const p = parsed.data;
  const modelPaths = p['model-paths'] ?? ['models'];
  for (const mp of modelPaths) {
    const abs = path.resolve(root, mp);
    if (abs !== root && !abs.startsWith(root + path.sep)) throw new ProjectError(projectFile, `model path ${mp} is outside the project`);
  }
  const modelsRoot = p.models ?? {};
  const unknownProjects = Object.keys(modelsRoot).filter((k) => k !== p.name && !k.startsWith('+'));
  if (unknownProjects.length > 0) {
    throw new ProjectError(projectFile, `models: only the project's own key "${p.name}" is supported, found ${unknownProjects.join(', ')}`);
  }
  const folderConfig = parseFolderConfig(projectFile, modelsRoot[p.name], p.name);

  const models: ModelFile[] = [];
  const sources: SourceTableDecl[] = [];
  const modelPatches: ModelPatch[] = [];
  for (const mp of modelPaths) {
    const base = path.resolve(root, mp);
    for (const file of walk(base, ['.sql'])) {
      models.push({
        name: path.basename(file, '.sql'),
        originalFilePath: toPosix(path.relative(root, file)),
        path: toPosix(path.relative(base, file)),
        modelPath: toPosix(path.relative(root, base)),
        rawCode: fs.readFileSync(file, 'utf8'),
      });
    }
    for (const file of walk(base, ['.yml', '.yaml'])) {
      const rel = toPosix(path.relative(root, file));
      const props = propertiesSchema.safeParse(readYaml(file, rel));
      if (!props.success) throw new ProjectError(rel, zodMessage(props.error));
      for (const src of props.data.sources ?? []) {
        for (const t of src.tables) {
          sources.push({
            sourceName: src.name,
            name: t.name,
            schema: src.schema ?? src.name,
            identifier: t.identifier ?? t.name,
            description: t.description ?? '',
            columns: columns(t.columns),
            originalFilePath: rel,
          });
        }
      }
      for (const m of props.data.models ?? []) {
        const config: ModelPatch['config'] = {};
        for (const [k, v] of Object.entries(m.config ?? {})) Object.assign(config, parseConfigValue(rel, k, v));
        modelPatches.push({ name: m.name, description: m.description ?? '', columns: columns(m.columns), config, originalFilePath: rel });
      }
    }
  }
  return {
    root,
    name: p.name,
    version: p.version === undefined ? '' : String(p.version),
    modelPaths,
    seedPaths: p['seed-paths'] ?? ['seeds'],
    targetPath: p['target-path'] ?? 'target',
    vars: p.vars ?? {},
    folderConfig,
    models,
    sources,
    modelPatches,
  };
}
