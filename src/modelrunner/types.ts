/**
 * Shapes shared by the model runner stages (parse → manifest → graph → compile → execute → artifacts).
 * Field names of manifest nodes and run results follow dbt's artifacts (manifest v12, run_results v6)
 * where they exist, so tools that read dbt artifacts can read ours.
 */

/** Materializations of models supported by {@link executeNode}. */
export type Materialization = 'view' | 'table' | 'incremental' | 'ephemeral';

/** Incremental strategies (dbt names). `merge` is `INSERT … ON CONFLICT (unique_key) DO UPDATE`. */
export type IncrementalStrategy = 'append' | 'delete+insert' | 'merge';

/**
 * What an incremental run does when the model's columns differ from the existing table's (dbt's
 * `on_schema_change`): `ignore` writes only the columns both have; `fail` stops with the difference;
 * `append_new_columns` adds the new ones (old rows get NULL); `sync_all_columns` also drops the ones the
 * model no longer has and changes the type of the ones whose type changed.
 */
export type OnSchemaChange = 'ignore' | 'fail' | 'append_new_columns' | 'sync_all_columns';

/** Kinds of nodes in the manifest. */
export type ResourceType = 'model' | 'seed' | 'test';

/**
 * Resolved configuration of one node (folder configs < schema.yml `config:` < in-file `config()`).
 * Seeds have `materialized: 'seed'`, tests `materialized: 'test'` (as in dbt's manifest).
 */
export interface ModelConfig {
  /** How the node is built. @default 'view' for models */
  materialized: Materialization | 'seed' | 'test';
  /** Schema the relation is built in; used as-is (no `<target>_<custom>` prefixing). @default the project's default schema */
  schema: string;
  /** Relation name. @default the model name (file name without `.sql`) */
  alias: string;
  /** Tags, accumulated from every level. @default [] */
  tags: string[];
  /** Disabled models are not part of the manifest's nodes. @default true */
  enabled: boolean;
  /** Incremental models: columns identifying a row (merge / delete+insert key). */
  unique_key?: string[];
  /** Incremental models. @default 'delete+insert' with a unique_key, else 'append' (dbt-postgres' defaults) */
  incremental_strategy?: IncrementalStrategy;
  /** Incremental models: what to do when the model's columns changed. @default 'ignore' (dbt's default) */
  on_schema_change?: OnSchemaChange;
  /** Seeds: column name → SQL type, overriding the inferred type (`{ zip: text }`). */
  column_types?: Record<string, string>;
  /** Tests: `error` fails the test (and blocks downstream nodes in `build`), `warn` only warns. @default 'error' */
  severity?: 'error' | 'warn';
  /** `false` keeps an incremental model incremental even under `--full-refresh`. */
  full_refresh?: boolean;
}

/** One `.sql` file found under a model path. */
export interface ModelFile {
  /** Model name: the file name without `.sql`. */
  name: string;
  /** Path relative to the project directory, POSIX separators (`models/staging/x.sql`). */
  originalFilePath: string;
  /** Path relative to its model path (`staging/x.sql`). */
  path: string;
  /** The model path it was found under (`models`). */
  modelPath: string;
  /** File contents (the Jinja/SQL source). */
  rawCode: string;
}

/** One `.csv` file found under a seed path. */
export interface SeedFile {
  /** Seed name: the file name without `.csv`. */
  name: string;
  /** Path relative to the project directory (`seeds/lookups/x.csv`). */
  originalFilePath: string;
  /** Path relative to its seed path (`lookups/x.csv`). */
  path: string;
  /** File contents. */
  rawCsv: string;
}

/** A singular test: a `.sql` file under a test path returning the failing rows. */
export interface SingularTestFile {
  name: string;
  originalFilePath: string;
  path: string;
  rawCode: string;
}

/**
 * A generic data test declared in a property file (`data_tests:` or `tests:` under a model, seed,
 * source table or one of their columns).
 */
export interface GenericTestDecl {
  /** `unique`, `not_null`, `accepted_values`, `relationships`. */
  testName: 'unique' | 'not_null' | 'accepted_values' | 'relationships';
  /** Arguments (`values`, `to`, `field`, `quote`). */
  kwargs: Record<string, unknown>;
  /** Test config (`severity`, `enabled`, `tags`). */
  config: Partial<ModelConfig>;
  /** Custom test name (`name:` key). */
  name?: string;
  /** What it tests. */
  attachedTo: { kind: 'model' | 'seed'; name: string } | { kind: 'source'; sourceName: string; name: string };
  /** Column under which it was declared. */
  columnName?: string;
  originalFilePath: string;
}

/** A source table declared in a `schema.yml` `sources:` block. */
export interface SourceTableDecl {
  sourceName: string;
  name: string;
  /** Schema of the source; may contain Jinja (`{{ var('x', 'ingest') }}`), rendered at manifest time. */
  schema: string;
  /** Table name in the database. @default name */
  identifier: string;
  description: string;
  columns: Record<string, { name: string; description: string }>;
  originalFilePath: string;
}

/** A `models:` entry of a `schema.yml` (descriptions, columns, config). */
export interface ModelPatch {
  name: string;
  description: string;
  columns: Record<string, { name: string; description: string }>;
  config: Partial<Omit<ModelConfig, 'alias'>> & { alias?: string };
  originalFilePath: string;
}

/** Folder-level config tree from `dbt_project.yml` `models:` / `seeds:` / `data_tests:` (keys without `+` that are not configs are folders). */
export interface FolderConfig {
  config: Partial<ModelConfig>;
  children: Record<string, FolderConfig>;
}

/** Everything read from disk by {@link loadProject}; no templates rendered yet. */
export interface Project {
  /** Absolute project directory. */
  root: string;
  /** `name` from dbt_project.yml; the package name in unique IDs. */
  name: string;
  version: string;
  modelPaths: string[];
  seedPaths: string[];
  /** Folder for artifacts, relative to root. @default 'target' */
  targetPath: string;
  /** Project-level `vars:` (CLI vars override them). */
  vars: Record<string, unknown>;
  testPaths: string[];
  /** `models: <project name>:` config tree. */
  folderConfig: FolderConfig;
  /** `seeds: <project name>:` config tree. */
  seedFolderConfig: FolderConfig;
  /** `data_tests:` (or `tests:`) `<project name>:` config tree. */
  testFolderConfig: FolderConfig;
  models: ModelFile[];
  seeds: SeedFile[];
  singularTests: SingularTestFile[];
  sources: SourceTableDecl[];
  /** `models:` entries of property files. */
  modelPatches: ModelPatch[];
  /** `seeds:` entries of property files. */
  seedPatches: ModelPatch[];
  genericTests: GenericTestDecl[];
  /** `{% docs name %}…{% enddocs %}` blocks of the `.md` files under the model paths: name → text. */
  docs: Record<string, { text: string; file: string }>;
}

/** A model, seed or test node of the manifest (dbt field names). */
export interface ManifestNode {
  unique_id: string;
  resource_type: ResourceType;
  package_name: string;
  name: string;
  /** Path relative to the model path. */
  path: string;
  /** Path relative to the project directory. */
  original_file_path: string;
  /** [project, ...folders, name] */
  fqn: string[];
  schema: string;
  alias: string;
  /** Resolved relation name, quoted: `"analytics"."stg_sensor_readings"`. */
  relation_name: string;
  config: ModelConfig;
  tags: string[];
  description: string;
  columns: Record<string, { name: string; description: string }>;
  /** `ref()` calls in call order, e.g. `[{ name: 'stg' }]`. */
  refs: { name: string }[];
  /** `source()` calls, e.g. `[['ingest', 'sensor_readings']]`. */
  sources: [string, string][];
  depends_on: { nodes: string[]; macros: string[] };
  /** Template source (models, singular tests); '' for seeds and generic tests. */
  raw_code: string;
  /** Generic tests: `{ name: 'unique', kwargs: { column_name, model, ... } }`. */
  test_metadata?: { name: string; kwargs: Record<string, unknown> };
  /** Generic tests: the tested column. */
  column_name?: string | null;
  /** Tests: unique ID of the tested model/seed (null for source tests and singular tests). */
  attached_node?: string | null;
}

/** A source table of the manifest (dbt field names). */
export interface ManifestSource {
  unique_id: string;
  resource_type: 'source';
  package_name: string;
  source_name: string;
  name: string;
  schema: string;
  identifier: string;
  relation_name: string;
  description: string;
  columns: Record<string, { name: string; description: string }>;
  original_file_path: string;
  fqn: string[];
}

/** The parsed project: every enabled model with its resolved config and dependencies. */
export interface Manifest {
  metadata: {
    dbt_schema_version: string;
    generated_at: string;
    invocation_id: string;
    project_name: string;
    adapter_type: 'postgres';
  };
  nodes: Record<string, ManifestNode>;
  sources: Record<string, ManifestSource>;
  /** `{% docs %}` blocks, keyed `doc.<project>.<name>`. */
  docs: Record<
    string,
    { unique_id: string; name: string; block_contents: string; original_file_path: string; package_name: string; resource_type: 'doc' }
  >;
  parent_map: Record<string, string[]>;
  child_map: Record<string, string[]>;
  /** Effective vars (project vars overridden by run vars); not a dbt field. */
  vars: Record<string, unknown>;
  /** Absolute project directory; not a dbt field. */
  project_root: string;
  /** Absolute artifacts folder (`target/`); not a dbt field. */
  target_dir: string;
}

/** Status of one node in a run (dbt's statuses: models/seeds success|error|skipped, tests pass|fail|warn|error|skipped). */
export type NodeStatus = 'success' | 'error' | 'skipped' | 'pass' | 'fail' | 'warn';

/** Result of one node (dbt run_results.json `results[]` entry). */
export interface NodeResult {
  unique_id: string;
  status: NodeStatus;
  /** Phases with ISO timestamps: `compile` then `execute`. */
  timing: { name: 'compile' | 'execute'; started_at: string; completed_at: string }[];
  thread_id: string;
  /** Seconds, compile + execute. */
  execution_time: number;
  /** Database command tag on success (`SELECT 42`, `CREATE VIEW`), error text or skip reason otherwise. */
  message: string | null;
  adapter_response: { _message?: string; code?: string; rows_affected?: number };
  /** Compiled SQL (without the materialization DDL), null when compilation did not happen. */
  compiled_code: string | null;
  /** Relation built, quoted. */
  relation_name: string | null;
  /** Tests: number of failing rows; null for other nodes. */
  failures: number | null;
}

/** The run_results.json document. */
export interface RunResults {
  metadata: { dbt_schema_version: string; generated_at: string; invocation_id: string };
  results: NodeResult[];
  /** Seconds, whole run. */
  elapsed_time: number;
  args: Record<string, unknown>;
}

/** One node of a run plan (input of the scheduler and the workflow). */
export interface PlannedNode {
  uniqueId: string;
  name: string;
  resourceType: ResourceType;
  /** Unique IDs of the nodes inside the same plan that must succeed first. */
  dependsOn: string[];
  materialized: ModelConfig['materialized'];
}
