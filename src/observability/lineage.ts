/**
 * OpenLineage run events (spec 2-0-2, `spec/openlineage/` with its SOURCE.md): START and COMPLETE /
 * FAIL / ABORT for every pipeline run (a workflow of {@link PIPELINE_WORKFLOWS}, reported by the
 * workflow interceptor `src/workflows/lineage-interceptors.ts` through the worker's `lineage` sink)
 * and for every SQL-model node (the `runModelNode` activity), with input and output datasets, their
 * schema facets, and the parent run facet that ties a node's run to its pipeline run.
 *
 * Where they go: `OPENLINEAGE_URL` (POSTed as JSON to `<url>/api/v1/lineage`, Marquez's endpoint;
 * `OPENLINEAGE_API_KEY` as a bearer token) and/or `OPENLINEAGE_FILE` (appended as JSON lines); neither
 * set: nothing is built or sent. A failed POST is logged and dropped: lineage never fails a run.
 * Names: job namespace `OPENLINEAGE_NAMESPACE` (default `iot-pipelines`); a PostgreSQL table is the
 * dataset `postgres://<host>:<port>` / `<database>.<schema>.<table>` (OpenLineage's naming convention).
 */
import fs from 'node:fs';
import { randomUUID } from 'node:crypto';

/** The OpenLineage spec version the events follow. */
export const OPENLINEAGE_SCHEMA_URL = 'https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent';
/** Who produced the events (OpenLineage `producer`: a URI of the producing code). */
export const PRODUCER = 'https://github.com/iot-pipelines/iot-pipelines';
/** The workflows whose runs are OpenLineage runs (long-running stream and device workflows are not). */
export const PIPELINE_WORKFLOWS = [
  'sensorPipeline',
  'buildModels',
  'launchImages',
  'eventsStats',
  'weatherPipeline',
  'lakeExport',
  'qualityChecks',
];

/** A dataset of an event: namespace, name, and optionally its columns. */
export interface LineageDataset {
  namespace: string;
  name: string;
  fields?: Array<{ name: string; type: string }>;
}

/** An OpenLineage RunEvent (the fields this project sends). */
export interface RunEvent {
  eventType: 'START' | 'COMPLETE' | 'FAIL' | 'ABORT';
  eventTime: string;
  producer: string;
  schemaURL: string;
  run: { runId: string; facets: Record<string, unknown> };
  job: { namespace: string; name: string; facets: Record<string, unknown> };
  inputs: Array<{ namespace: string; name: string; facets: Record<string, unknown> }>;
  outputs: Array<{ namespace: string; name: string; facets: Record<string, unknown> }>;
}

const facet = (name: string, version: string, body: Record<string, unknown>) => ({
  _producer: PRODUCER,
  _schemaURL: `https://openlineage.io/spec/facets/${version}/${name}.json#/$defs/${name}`,
  ...body,
});

/** Where events go; undefined when lineage is off. */
export interface LineageSink {
  emit(event: RunEvent): Promise<void>;
}

/** The sink of `OPENLINEAGE_URL` / `OPENLINEAGE_FILE`, or undefined when neither is set. */
export function lineageFromEnv(env: NodeJS.ProcessEnv = process.env): LineageSink | undefined {
  const url = env.OPENLINEAGE_URL?.replace(/\/+$/, '');
  const file = env.OPENLINEAGE_FILE;
  if (!url && !file) return undefined;
  const key = env.OPENLINEAGE_API_KEY;
  return {
    async emit(event) {
      const line = JSON.stringify(event);
      if (file) {
        try {
          fs.appendFileSync(file, `${line}\n`);
        } catch (e) {
          console.warn(`OpenLineage: cannot append to ${file} (${(e as Error).message}); event of ${event.job.name} dropped`);
        }
      }
      if (url) {
        try {
          const res = await fetch(`${url}/api/v1/lineage`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
            body: line,
            signal: AbortSignal.timeout(5_000),
          });
          if (!res.ok) console.warn(`OpenLineage: POST ${url}/api/v1/lineage answered ${res.status}; event of ${event.job.name} dropped`);
        } catch (e) {
          console.warn(`OpenLineage: POST ${url}/api/v1/lineage failed (${(e as Error).message}); event of ${event.job.name} dropped`);
        }
      }
    },
  };
}

/** The job namespace. */
export function jobNamespace(env: NodeJS.ProcessEnv = process.env): string {
  return env.OPENLINEAGE_NAMESPACE || 'iot-pipelines';
}

/** What a run event is about. */
export interface RunEventInput {
  eventType: RunEvent['eventType'];
  runId: string;
  job: string;
  /** OpenLineage JobTypeJobFacet: `WORKFLOW` for pipeline runs, `MODEL`, `SEED` or `TEST` for nodes. */
  jobType: string;
  parent?: { runId: string; job: string };
  inputs?: LineageDataset[];
  outputs?: LineageDataset[];
  /** The compiled SQL of a model node (SQLJobFacet). */
  sql?: string;
  /** FAIL: the error (ErrorMessageRunFacet). */
  error?: string;
  /** @default now */
  eventTime?: Date;
}

const dataset = (d: LineageDataset) => ({
  namespace: d.namespace,
  name: d.name,
  facets: d.fields ? { schema: facet('SchemaDatasetFacet', '1-2-0', { fields: d.fields }) } : {},
});

/** Builds an OpenLineage RunEvent. */
export function runEvent(i: RunEventInput): RunEvent {
  const ns = jobNamespace();
  const runFacets: Record<string, unknown> = {};
  if (i.parent) {
    runFacets.parent = facet('ParentRunFacet', '1-2-0', { run: { runId: i.parent.runId }, job: { namespace: ns, name: i.parent.job } });
  }
  if (i.error) runFacets.errorMessage = facet('ErrorMessageRunFacet', '1-0-1', { message: i.error, programmingLanguage: 'TypeScript' });
  const jobFacets: Record<string, unknown> = {
    jobType: facet('JobTypeJobFacet', '2-0-4', { processingType: 'BATCH', integration: 'TEMPORAL', jobType: i.jobType }),
  };
  if (i.sql) jobFacets.sql = facet('SQLJobFacet', '1-1-0', { query: i.sql });
  return {
    eventType: i.eventType,
    eventTime: (i.eventTime ?? new Date()).toISOString(),
    producer: PRODUCER,
    schemaURL: OPENLINEAGE_SCHEMA_URL,
    run: { runId: i.runId, facets: runFacets },
    job: { namespace: ns, name: i.job, facets: jobFacets },
    inputs: (i.inputs ?? []).map(dataset),
    outputs: (i.outputs ?? []).map(dataset),
  };
}

/** A new run id (OpenLineage wants a UUID per run). */
export const newRunId = (): string => randomUUID();

/**
 * The OpenLineage dataset of the PostgreSQL table `schema.table` in the database of `connectionString`:
 * namespace `postgres://host:port`, name `database.schema.table` (OpenLineage's naming of PostgreSQL).
 */
export function postgresDataset(connectionString: string, schema: string, table: string): LineageDataset {
  const u = new URL(connectionString);
  return {
    namespace: `postgres://${u.hostname}:${u.port || 5432}`,
    name: `${u.pathname.replace(/^\//, '') || 'postgres'}.${schema}.${table}`,
  };
}
