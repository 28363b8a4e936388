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
 * test-paths: [tests]            # @default [tests] (singular tests)
 * target-path: target            # @default target
 * vars: { ingest_schema: ingest }
 * models:
 *   iot_pipelines:
 *     +materialized: view        # + keys are configs: materialized, schema, alias, tags, enabled
 *     marts:                     # other keys are folders under the model paths
 *       +materialized: table
 * seeds:
 *   iot_pipelines:
 *     +column_types: { zip: text } # seed configs: schema, alias, tags, enabled, column_types
 * data_tests:                    # (or tests:) test configs: severity, tags, enabled
 *   iot_pipelines:
 *     +severity: warn
 * ```
 * Property files (`*.yml` under the model and seed paths) hold `sources:`, `models:` and `seeds:`
 * entries with `data_tests:` (or the older `tests:`) at the model, table and column level. `.md` files
 * under the model paths hold `{% docs name %}…{% enddocs %}` blocks for `doc('name')` in descriptions.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';
import { ProjectError } from './errors';
import { ROOT_DIR } from '../config/env';
import { DBT_SOURCE_NAME, dbtSourceTables } from '../sources/dbt';
import type {
  FolderConfig,
  GenericTestDecl,
  ModelConfig,
  ModelFile,
  ModelPatch,
  Project,
  SeedFile,
  SingularTestFile,
  SourceTableDecl,
} from './types';

/** Config keys recognised in folder configs, schema.yml `config:` and `config()`. */
export const CONFIG_KEYS = [
  'materialized',
  'schema',
  'alias',
  'tags',
  'enabled',
  'unique_key',
  'incremental_strategy',
  'on_schema_change',
  'column_types',
  'severity',
  'full_refresh',
] as const;

/** Generic tests this runner implements (dbt's built-in generic tests). */
export const GENERIC_TESTS = ['unique', 'not_null', 'accepted_values', 'relationships'] as const;

/** Strategies of incremental models. */
export const INCREMENTAL_STRATEGIES = ['append', 'delete+insert', 'merge'] as const;

/** Values of `on_schema_change` (dbt's). */
export const ON_SCHEMA_CHANGE = ['ignore', 'fail', 'append_new_columns', 'sync_all_columns'] as const;

// zod/mini: the same validators as `zod` with a fraction of its load time (this module is on the
// `models` command's start-up path); its messages are the English locale's, passed per parse.
const projectSchema = z.object({
  name: z.string().check(z.regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must match [A-Za-z_][A-Za-z0-9_]*')),
  version: z.optional(z.union([z.string(), z.number()])),
  'model-paths': z.optional(z.array(z.string())),
  'seed-paths': z.optional(z.array(z.string())),
  'test-paths': z.optional(z.array(z.string())),
  'target-path': z.optional(z.string()),
  vars: z.optional(z.record(z.string(), z.unknown())),
  models: z.optional(z.record(z.string(), z.unknown())),
  seeds: z.optional(z.record(z.string(), z.unknown())),
  data_tests: z.optional(z.record(z.string(), z.unknown())),
  tests: z.optional(z.record(z.string(), z.unknown())),
});

const testListSchema = z.optional(z.array(z.unknown()));

const columnsSchema = z.optional(
  z.array(z.looseObject({ name: z.string(), description: z.optional(z.string()), data_tests: testListSchema, tests: testListSchema })),
);

const nodePropsSchema = z.looseObject({
  name: z.string(),
  description: z.optional(z.string()),
  config: z.optional(z.record(z.string(), z.unknown())),
  columns: columnsSchema,
  data_tests: testListSchema,
  tests: testListSchema,
});

const propertiesSchema = z.looseObject({
  version: z.optional(z.number()),
  sources: z.optional(
    z.array(
      z.looseObject({
        name: z.string(),
        schema: z.optional(z.string()),
        description: z.optional(z.string()),
        tables: z.array(
          z.looseObject({
            name: z.string(),
            identifier: z.optional(z.string()),
            description: z.optional(z.string()),
            columns: columnsSchema,
            data_tests: testListSchema,
            tests: testListSchema,
          }),
        ),
      }),
    ),
  ),
  models: z.optional(z.array(nodePropsSchema)),
  seeds: z.optional(z.array(nodePropsSchema)),
});

/** Parse options of every schema here: English messages (zod/mini loads no locale). */
const PARSE_OPTIONS = { error: en().localeError };

/**
 * SQL type names accepted in `column_types` (they are written into DDL unquoted): words, optional
 * `(precision[, scale])`, optional `[]`, e.g. `numeric(10, 2)`, `timestamp with time zone`, `text[]`.
 */
export const SQL_TYPE =
  /^[A-Za-z_][A-Za-z0-9_]*( [A-Za-z_][A-Za-z0-9_]*)*( ?\(\s*\d+\s*(,\s*\d+\s*)?\))?( [A-Za-z_][A-Za-z0-9_]*)*(\[\])?$/;

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

function zodMessage(e: z.core.$ZodError): string {
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
    case 'unique_key': {
      // dbt accepts a column, a list of columns, or a comma-separated string.
      const keys = typeof value === 'string' ? value.split(',').map((k) => k.trim()) : value;
      if (!Array.isArray(keys) || keys.length === 0 || !keys.every((k) => typeof k === 'string' && k !== '')) {
        throw new ProjectError(file, `config unique_key must be a column name or a list of column names`);
      }
      return { unique_key: keys as string[] };
    }
    case 'incremental_strategy':
      if (!(INCREMENTAL_STRATEGIES as readonly unknown[]).includes(value)) {
        throw new ProjectError(file, `config incremental_strategy must be one of ${INCREMENTAL_STRATEGIES.join(', ')}`);
      }
      return { incremental_strategy: value as (typeof INCREMENTAL_STRATEGIES)[number] };
    case 'on_schema_change':
      if (!(ON_SCHEMA_CHANGE as readonly unknown[]).includes(value)) {
        throw new ProjectError(file, `config on_schema_change must be one of ${ON_SCHEMA_CHANGE.join(', ')}`);
      }
      return { on_schema_change: value as (typeof ON_SCHEMA_CHANGE)[number] };
    case 'column_types': {
      if (!value || typeof value !== 'object' || Array.isArray(value))
        throw new ProjectError(file, `config column_types must be a mapping`);
      const out: Record<string, string> = {};
      for (const [col, type] of Object.entries(value as Record<string, unknown>)) {
        if (typeof type !== 'string' || !SQL_TYPE.test(type.trim())) {
          throw new ProjectError(file, `column_types.${col}: ${JSON.stringify(type)} is not a plain SQL type name`);
        }
        out[col] = type.trim();
      }
      return { column_types: out };
    }
    case 'severity': {
      const sev = typeof value === 'string' ? value.toLowerCase() : value;
      if (sev !== 'error' && sev !== 'warn') throw new ProjectError(file, `config severity must be error or warn`);
      return { severity: sev };
    }
    case 'full_refresh':
      if (typeof value !== 'boolean' && value !== null) throw new ProjectError(file, `config full_refresh must be true or false`);
      return value === null ? {} : { full_refresh: value };
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

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Reads one entry of a `data_tests:` list: `unique`, `{ accepted_values: { values: [...] } }`,
 * `{ relationships: { to: "ref('x')", field: id, config: { severity: warn } } }`, dbt ≥ 1.10's
 * `arguments:` form, or a custom `name:`.
 * @throws ProjectError on an unknown test or a malformed entry.
 */
function parseTestEntry(
  file: string,
  entry: unknown,
  attachedTo: GenericTestDecl['attachedTo'],
  columnName: string | undefined,
): GenericTestDecl {
  let testName: string;
  let body: Record<string, unknown> = {};
  if (typeof entry === 'string') testName = entry;
  else if (isRecord(entry) && Object.keys(entry).length === 1) {
    testName = Object.keys(entry)[0] as string;
    const b = entry[testName];
    if (b !== null && b !== undefined && !isRecord(b)) throw new ProjectError(file, `test ${testName}: arguments must be a mapping`);
    body = b ?? {};
  } else throw new ProjectError(file, `a data test must be a name or a one-key mapping, got ${JSON.stringify(entry)}`);
  if (!(GENERIC_TESTS as readonly string[]).includes(testName)) {
    throw new ProjectError(file, `unknown generic test '${testName}' (supported: ${GENERIC_TESTS.join(', ')})`);
  }
  const { config: cfg, arguments: args, name, ...rest } = body;
  const kwargs: Record<string, unknown> = { ...(isRecord(args) ? args : {}) };
  const config: Partial<ModelConfig> = {};
  for (const [k, v] of Object.entries(rest)) {
    // Old style: configs next to the arguments (`severity: warn`).
    if ((CONFIG_KEYS as readonly string[]).includes(k) && k !== 'alias' && k !== 'schema')
      Object.assign(config, parseConfigValue(file, k, v));
    else kwargs[k] = v;
  }
  if (isRecord(cfg)) for (const [k, v] of Object.entries(cfg)) Object.assign(config, parseConfigValue(file, k, v));
  if (testName !== 'unique' && testName !== 'not_null' && testName !== 'accepted_values' && testName !== 'relationships') {
    throw new ProjectError(file, `unknown generic test '${testName}'`);
  }
  if (columnName === undefined && typeof kwargs.column_name !== 'string') {
    throw new ProjectError(file, `test ${testName} on ${attachedTo.name} needs a column (declare it under columns: or pass column_name)`);
  }
  if (testName === 'accepted_values' && !Array.isArray(kwargs.values)) throw new ProjectError(file, `accepted_values needs a values: list`);
  if (testName === 'relationships' && (typeof kwargs.to !== 'string' || typeof kwargs.field !== 'string')) {
    throw new ProjectError(file, `relationships needs to: "ref('model')" and field: column`);
  }
  return {
    testName,
    kwargs,
    config,
    ...(typeof name === 'string' ? { name } : {}),
    attachedTo,
    ...(columnName !== undefined ? { columnName } : {}),
    originalFilePath: file,
  };
}

/** The `data_tests:` (or `tests:`) list of a node or column. */
function testList(file: string, props: { data_tests?: unknown[]; tests?: unknown[] }): unknown[] {
  if (props.data_tests && props.tests) throw new ProjectError(file, `use either data_tests: or tests:, not both`);
  return props.data_tests ?? props.tests ?? [];
}

function testsOf(
  file: string,
  props: { data_tests?: unknown[]; tests?: unknown[]; columns?: { name: string; data_tests?: unknown[]; tests?: unknown[] }[] },
  attachedTo: GenericTestDecl['attachedTo'],
): GenericTestDecl[] {
  const out = testList(file, props).map((t) => parseTestEntry(file, t, attachedTo, undefined));
  for (const c of props.columns ?? []) out.push(...testList(file, c).map((t) => parseTestEntry(file, t, attachedTo, c.name)));
  return out;
}

/** `{% docs name %}…{% enddocs %}` blocks (dbt's docs blocks), with the whitespace-control dashes. */
const DOCS_BLOCK = /\{%-?\s*docs\s+([A-Za-z_][A-Za-z0-9_]*)\s*-?%\}([\s\S]*?)\{%-?\s*enddocs\s*-?%\}/g;

function resolveInside(root: string, rel: string, key: string): string {
  const abs = path.resolve(root, rel);
  if (abs !== root && !abs.startsWith(root + path.sep)) throw new ProjectError('dbt_project.yml', `${key} ${rel} is outside the project`);
  return abs;
}

function folderTree(projectName: string, block: Record<string, unknown> | undefined, key: string): FolderConfig {
  const root = block ?? {};
  const unknown = Object.keys(root).filter((k) => k !== projectName && !k.startsWith('+'));
  if (unknown.length > 0) {
    throw new ProjectError(
      'dbt_project.yml',
      `${key}: only the project's own key "${projectName}" is supported, found ${unknown.join(', ')}`,
    );
  }
  const tree = parseFolderConfig('dbt_project.yml', root[projectName], projectName);
  // `+key` directly under `models:` applies to every node too.
  for (const [k, v] of Object.entries(root))
    if (k.startsWith('+')) Object.assign(tree.config, { ...parseConfigValue('dbt_project.yml', k.slice(1), v), ...tree.config });
  return tree;
}

/**
 * Reads a dbt-style project from disk.
 * @param projectDir folder holding `dbt_project.yml`.
 * @throws ProjectError when `dbt_project.yml` or a property file is missing/invalid, a path escapes the
 *   project directory, a data test is unknown or malformed.
 */
export function loadProject(projectDir: string): Project {
  const root = path.resolve(projectDir);
  const projectFile = 'dbt_project.yml';
  const parsed = projectSchema.safeParse(readYaml(path.join(root, projectFile), projectFile), PARSE_OPTIONS);
  if (!parsed.success) throw new ProjectError(projectFile, zodMessage(parsed.error));
  const p = parsed.data;
  const modelPaths = p['model-paths'] ?? ['models'];
  const seedPaths = p['seed-paths'] ?? ['seeds'];
  const testPaths = p['test-paths'] ?? ['tests'];
  for (const mp of modelPaths) resolveInside(root, mp, 'model path');
  for (const sp of seedPaths) resolveInside(root, sp, 'seed path');
  for (const tp of testPaths) resolveInside(root, tp, 'test path');
  if (p.data_tests && p.tests) throw new ProjectError(projectFile, 'use either data_tests: or tests:, not both');

  const folderConfig = folderTree(p.name, p.models, 'models');
  const seedFolderConfig = folderTree(p.name, p.seeds, 'seeds');
  const testFolderConfig = folderTree(p.name, p.data_tests ?? p.tests, 'data_tests');

  const models: ModelFile[] = [];
  const seeds: SeedFile[] = [];
  const singularTests: SingularTestFile[] = [];
  const sources: SourceTableDecl[] = [];
  const modelPatches: ModelPatch[] = [];
  const seedPatches: ModelPatch[] = [];
  const genericTests: GenericTestDecl[] = [];
  const docs: Project['docs'] = {};

  const readProperties = (file: string) => {
    const rel = toPosix(path.relative(root, file));
    const props = propertiesSchema.safeParse(readYaml(file, rel), PARSE_OPTIONS);
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
        genericTests.push(...testsOf(rel, t, { kind: 'source', sourceName: src.name, name: t.name }));
      }
    }
    for (const [list, patches, kind] of [
      [props.data.models, modelPatches, 'model'],
      [props.data.seeds, seedPatches, 'seed'],
    ] as const) {
      for (const m of list ?? []) {
        const config: ModelPatch['config'] = {};
        for (const [k, v] of Object.entries(m.config ?? {})) Object.assign(config, parseConfigValue(rel, k, v));
        patches.push({ name: m.name, description: m.description ?? '', columns: columns(m.columns), config, originalFilePath: rel });
        genericTests.push(...testsOf(rel, m, { kind, name: m.name }));
      }
    }
  };

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
    for (const file of walk(base, ['.yml', '.yaml'])) readProperties(file);
    for (const file of walk(base, ['.md'])) {
      const rel = toPosix(path.relative(root, file));
      for (const m of fs.readFileSync(file, 'utf8').matchAll(DOCS_BLOCK)) {
        const name = m[1] as string;
        if (docs[name]) throw new ProjectError(rel, `docs block ${name} is also defined in ${docs[name].file}`);
        docs[name] = { text: (m[2] as string).trim(), file: rel };
      }
    }
  }
  for (const sp of seedPaths) {
    const base = path.resolve(root, sp);
    for (const file of walk(base, ['.csv'])) {
      seeds.push({
        name: path.basename(file, '.csv'),
        originalFilePath: toPosix(path.relative(root, file)),
        path: toPosix(path.relative(base, file)),
        rawCsv: fs.readFileSync(file, 'utf8'),
      });
    }
    for (const file of walk(base, ['.yml', '.yaml'])) readProperties(file);
  }
  // Declared sources (sources/*.yaml) are dbt sources of their own: source('devices', '<name>').
  const declaredDir = root === ROOT_DIR && process.env.SOURCES_DIR ? path.resolve(process.env.SOURCES_DIR) : path.join(root, 'sources');
  for (const t of dbtSourceTables(declaredDir, root)) {
    if (sources.some((x) => x.sourceName === DBT_SOURCE_NAME && x.name === t.name)) continue;
    sources.push({
      sourceName: DBT_SOURCE_NAME,
      name: t.name,
      schema: 'ingest',
      identifier: t.identifier,
      description: t.description,
      columns: t.columns,
      originalFilePath: t.file,
    });
  }
  for (const tp of testPaths) {
    const base = path.resolve(root, tp);
    for (const file of walk(base, ['.sql'])) {
      singularTests.push({
        name: path.basename(file, '.sql'),
        originalFilePath: toPosix(path.relative(root, file)),
        path: toPosix(path.relative(base, file)),
        rawCode: fs.readFileSync(file, 'utf8'),
      });
    }
    for (const file of walk(base, ['.yml', '.yaml'])) readProperties(file);
  }
  return {
    root,
    name: p.name,
    version: p.version === undefined ? '' : String(p.version),
    modelPaths,
    seedPaths,
    testPaths,
    targetPath: p['target-path'] ?? 'target',
    vars: p.vars ?? {},
    folderConfig,
    seedFolderConfig,
    testFolderConfig,
    models,
    seeds,
    singularTests,
    sources,
    modelPatches,
    seedPatches,
    genericTests,
    docs,
  };
}

/**
 * A cheap fingerprint of the project's files (paths, sizes, modification times of `dbt_project.yml`
 * and everything under the model, seed and test paths): equal fingerprints mean {@link loadProject}
 * would read the same thing, so a parsed manifest can be reused.
 * @throws ProjectError when `dbt_project.yml` is missing or invalid.
 */
export function projectFingerprint(projectDir: string): string {
  const root = path.resolve(projectDir);
  const projectFile = path.join(root, 'dbt_project.yml');
  const parsed = projectSchema.safeParse(readYaml(projectFile, 'dbt_project.yml'), PARSE_OPTIONS);
  if (!parsed.success) throw new ProjectError('dbt_project.yml', zodMessage(parsed.error));
  const p = parsed.data;
  const parts: string[] = [];
  const add = (f: string) => {
    const st = fs.statSync(f);
    parts.push(`${f}:${st.size}:${st.mtimeMs}`);
  };
  add(projectFile);
  for (const dir of [...(p['model-paths'] ?? ['models']), ...(p['seed-paths'] ?? ['seeds']), ...(p['test-paths'] ?? ['tests'])]) {
    for (const f of walk(path.resolve(root, dir), ['.sql', '.yml', '.yaml', '.csv', '.md'])) add(f);
  }
  return parts.join('\n');
}
