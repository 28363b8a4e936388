/**
 * Shapes shared by the model runner stages (parse → manifest → graph → compile → execute → artifacts).
 * Field names of manifest nodes and run results follow dbt's artifacts (manifest v12, run_results v6)
 * where they exist, so tools that read dbt artifacts can read ours.
 */

/** Materializations supported by {@link executeNode}. */
export type Materialization = 'view' | 'table';

/** Resolved configuration of one model (folder configs < schema.yml `config:` < in-file `config()`). */
export interface ModelConfig {
  /** How the model is built. @default 'view' */
  materialized: Materialization;
  /** Schema the relation is built in; used as-is (no `<target>_<custom>` prefixing). @default the project's default schema */
  schema: string;
  /** Relation name. @default the model name (file name without `.sql`) */
  alias: string;
  /** Tags, accumulated from every level. @default [] */
  tags: string[];
  /** Disabled models are not part of the manifest's nodes. @default true */
  enabled: boolean;
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

/** Folder-level config tree from `dbt_project.yml` `models:` (keys without `+` that are not configs are folders). */
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
  /** `models: <project name>:` config tree. */
  folderConfig: FolderConfig;
  models: ModelFile[];
  sources: SourceTableDecl[];
  modelPatches: ModelPatch[];
}

/** A model node of the manifest (dbt field names). */
export interface ManifestNode {
  unique_id: string;
  resource_type: 'model';
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
  raw_code: string;
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
  parent_map: Record<string, string[]>;
  child_map: Record<string, string[]>;
  /** Effective vars (project vars overridden by run vars); not a dbt field. */
  vars: Record<string, unknown>;
  /** Absolute project directory; not a dbt field. */
  project_root: string;
  /** Absolute artifacts folder (`target/`); not a dbt field. */
  target_dir: string;
}

/** Status of one node in a run (dbt's run statuses). */
export type NodeStatus = 'success' | 'error' | 'skipped';

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
  failures: null;
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
  /** Unique IDs of the node's parents that are inside the same plan. */
  dependsOn: string[];
  materialized: Materialization;
}
