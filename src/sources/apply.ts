/**
 * `sources apply`: brings PostgreSQL and Temporal in line with `sources/*.yaml`, like `schedules apply`.
 * Per source, first its table (created or evolved, `table.ts`; a refused change stops here and nothing
 * of that source changes), then its stream workflows: started when missing (`ingest-mqtt-<source>`,
 * or `ingest-kafka-<group>-<topic>` per topic), sent the `applySource` update when the declaration
 * differs from the one they run (their consumers commit what they hold and restart with it: the broker
 * keeps what arrives meanwhile, so nothing is lost or doubled), left alone when equal. With `prune`,
 * running streams of declared sources whose file is gone are stopped (cancelled: they commit and end).
 */
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { searchAttributeKeys, workflowIds } from '../config/names';
import type { Pool } from '../db/pool';
import { queryWorkflow } from '../client/query';
import { applySource, configure, status as statusQuery, type StreamConfig } from '../workflows/messages';
import { kafkaIngestWorkflowId } from '../workflows/kafka-ingest';
import type { LoadedSource } from './load';
import { applyTable, planTable, SourceTableError, type TablePlan } from './table';

/** What apply did (or would do) for one stream workflow. */
export interface StreamAction {
  workflowId: string;
  /**
   * `unreachable`: the stream runs but did not answer (no worker polls its task queue); `conflict`: the
   * workflow ID runs a stream that is not a declared source's. Nothing was sent for either.
   */
  action: 'start' | 'update' | 'unchanged' | 'stop' | 'unreachable' | 'conflict';
  /** Why, for `unreachable` and `conflict`. */
  reason?: string;
}

/** What apply did (or would do) for one source. */
export interface SourceApplyResult {
  source: string;
  file: string;
  table: TablePlan;
  streams: StreamAction[];
  /** Why nothing was changed for this source (a refused table change), if so. */
  error?: string;
}

/** Options of {@link applySources}. */
export interface ApplySourcesOptions {
  client: Client;
  pool: Pool;
  taskQueue: string;
  /** Print the plan only. @default false */
  dryRun?: boolean;
  /** Stop running streams of declared sources that have no file any more. @default false */
  prune?: boolean;
  /** Only create and evolve tables; start or update no stream. @default false */
  tablesOnly?: boolean;
  /** Lists the Kafka topics that exist, for sources with a `topic_pattern` (called once, only for them). */
  listKafkaTopics?: () => Promise<string[]>;
}

/**
 * The Kafka topics of `s`: its `topics`, or those of `existing` its `topic_pattern` matches (whole
 * names; not Kafka's internal `__` topics), sorted.
 */
export function topicsOf(s: LoadedSource, existing: readonly string[] = []): string[] {
  const k = s.declaration.kafka;
  if (!k) return [];
  if (k.topics) return k.topics;
  const re = new RegExp(`^(?:${k.topic_pattern!})$`);
  return existing.filter((t) => re.test(t) && !t.startsWith('__')).sort();
}

/**
 * The workflow of each stream of `s`, with its type and input.
 * @param existing Kafka topics that exist, for a `topic_pattern`
 */
export function streamsOf(
  s: LoadedSource,
  existing: readonly string[] = [],
): Array<{ workflowId: string; type: 'mqttIngest' | 'kafkaIngest'; input: Record<string, unknown> }> {
  const d = s.declaration;
  const common = { source: s.name, declaration: d, ...(d.batch_size ? { batchSize: d.batch_size } : {}), members: d.members };
  if (d.mqtt) {
    return [
      {
        workflowId: workflowIds.mqttIngest(s.name),
        type: 'mqttIngest',
        input: { ...common, topic: s.mqttFilter, ...(d.mqtt.share_group ? { shareGroup: d.mqtt.share_group } : {}) },
      },
    ];
  }
  return topicsOf(s, existing).map((topic) => ({
    workflowId: kafkaIngestWorkflowId(d.kafka!.group, topic),
    type: 'kafkaIngest' as const,
    input: { ...common, topic, groupId: d.kafka!.group, startFrom: d.kafka!.start_from },
  }));
}

/** How long apply waits for a running stream to answer its `status` query. @default 10 s */
export const STREAM_QUERY_TIMEOUT_MS = 10_000;

async function runningDeclaration(
  client: Client,
  workflowId: string,
): Promise<
  | { running: false }
  | { running: true; declaration: unknown; batchSize: number; members: number | undefined }
  | { running: true; unreachable: string }
> {
  const handle = client.workflow.getHandle(workflowId);
  let taskQueue: string;
  try {
    const desc = await handle.describe();
    if (desc.status.name !== 'RUNNING') return { running: false };
    taskQueue = desc.taskQueue;
  } catch (e) {
    if (e instanceof WorkflowNotFoundError) return { running: false };
    throw e;
  }
  try {
    const st = await queryWorkflow(handle, statusQuery, [], STREAM_QUERY_TIMEOUT_MS);
    return { running: true, declaration: st.declaration, batchSize: st.batchSize, members: st.members };
  } catch (e) {
    return {
      running: true,
      unreachable: `it runs on task queue ${taskQueue} but did not answer its status query (${(e as Error).message}); start a worker on that task queue and apply again`,
    };
  }
}

/** Applies `sources` (see the module comment). Never throws for one source's refused table change: it is reported in its result. */
export async function applySources(sources: Map<string, LoadedSource>, o: ApplySourcesOptions): Promise<SourceApplyResult[]> {
  const out: SourceApplyResult[] = [];
  const patterned = [...sources.values()].some((s) => s.declaration.kafka?.topic_pattern !== undefined);
  let existing: string[] = [];
  if (patterned && !o.tablesOnly) {
    if (!o.listKafkaTopics) throw new Error('a source declares kafka.topic_pattern: applying it needs the Kafka topics (listKafkaTopics)');
    existing = await o.listKafkaTopics();
  }
  for (const s of sources.values()) {
    const r: SourceApplyResult = { source: s.name, file: s.file, table: await planTable(o.pool, s), streams: [] };
    out.push(r);
    if (r.table.action === 'refused') {
      r.error = new SourceTableError(s.name, s.table, r.table.refused).message;
      continue;
    }
    if (!o.dryRun) {
      try {
        r.table = await applyTable(o.pool, s);
      } catch (e) {
        if (!(e instanceof SourceTableError)) throw e;
        r.error = e.message;
        continue;
      }
    }
    if (o.tablesOnly) continue;
    for (const w of streamsOf(s, existing)) {
      const now = await runningDeclaration(o.client, w.workflowId);
      if (now.running && 'unreachable' in now) {
        r.streams.push({ workflowId: w.workflowId, action: 'unreachable', reason: now.unreachable });
        continue;
      }
      if (!now.running) {
        r.streams.push({ workflowId: w.workflowId, action: 'start' });
        if (o.dryRun) continue;
        try {
          await o.client.workflow.start(w.type, {
            workflowId: w.workflowId,
            taskQueue: o.taskQueue,
            args: [w.input],
            typedSearchAttributes: [
              { key: searchAttributeKeys.PipelineName, value: w.type === 'mqttIngest' ? 'mqtt-ingest' : 'kafka-ingest' },
              { key: searchAttributeKeys.Source, value: s.name },
            ],
          });
        } catch (e) {
          if (!(e instanceof WorkflowExecutionAlreadyStartedError)) throw e;
        }
      } else if (now.declaration === undefined) {
        r.streams.push({
          workflowId: w.workflowId,
          action: 'conflict',
          reason: `a stream of a built-in kind runs under this workflow ID; stop it (iot-pipelines streams stop) or give the source another name`,
        });
      } else if (JSON.stringify(now.declaration) !== JSON.stringify(s.declaration)) {
        r.streams.push({ workflowId: w.workflowId, action: 'update' });
        if (o.dryRun) continue;
        const handle = o.client.workflow.getHandle(w.workflowId);
        // Batch size and members are stream settings: changed through `configure`, like `streams configure`.
        const settings: StreamConfig = {};
        const batchSize = w.input.batchSize as number | undefined;
        if (batchSize !== undefined && batchSize !== now.batchSize) settings.batchSize = batchSize;
        if (s.declaration.members !== (now.members ?? 1)) settings.members = s.declaration.members;
        if (Object.keys(settings).length) await handle.executeUpdate(configure, { args: [settings] });
        await handle.executeUpdate(applySource, { args: [s.declaration] });
      } else r.streams.push({ workflowId: w.workflowId, action: 'unchanged' });
    }
  }
  if (o.prune && !o.tablesOnly) {
    const wanted = new Set([...sources.values()].flatMap((s) => streamsOf(s, existing).map((w) => w.workflowId)));
    const running = o.client.workflow.list({
      query: `ExecutionStatus = 'Running' AND (WorkflowType = 'mqttIngest' OR WorkflowType = 'kafkaIngest')`,
    });
    const stops: SourceApplyResult[] = [];
    for await (const wf of running) {
      if (wanted.has(wf.workflowId)) continue;
      const st = await queryWorkflow(o.client.workflow.getHandle(wf.workflowId), statusQuery, []).catch(() => undefined);
      if (st?.declaration === undefined) continue; // not a declared source's stream
      stops.push({
        source: st.source,
        file: '(removed)',
        table: { table: '', action: 'unchanged', statements: [], added: [], refused: [] },
        streams: [{ workflowId: wf.workflowId, action: 'stop' }],
      });
      if (!o.dryRun) await o.client.workflow.getHandle(wf.workflowId).cancel();
    }
    out.push(...stops);
  }
  return out;
}
