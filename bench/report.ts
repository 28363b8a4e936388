/** Renders the bench results as the markdown pasted into the README. */
import { PHASE_LABELS, PHASES, type BreakdownSummary } from './history-breakdown';
import type { ExperimentRow } from './experiments';
import type { IngestBenchResult } from './ingest-bench';
import type { LatencyResult } from './latency';
import type { LaunchBenchResult } from './launch-bench';
import type { ModelsBenchResult } from './models/main';
import type { PeersBenchResult } from './peers/main';
import type { SourcesBenchResult } from './sources/main';
import type { StreamsBenchResult } from './streams/main';
import type { SoakResult } from './streams/soak';
import type { Figure, StartupBenchResult } from './startup';
import type { ClusterBenchResult } from './cluster';

/** Everything one `npm run bench` measured. */
export interface BenchResults {
  startedAt: string;
  durationSeconds: number;
  /** Unmeasured warm-up runs before each latency measurement. */
  warmup: number;
  machine: { cpus: number; cpuModel: string; memoryGiB: number; node: string; platform: string };
  temporal: { address: string; workerOptions: Record<string, unknown> };
  latency?: {
    launchImages: LaunchBenchResult;
    trivialChain: LatencyResult;
    trivialChainEagerStart: LatencyResult & { eagerlyStarted: number };
  };
  ingest?: IngestBenchResult;
  models?: Omit<ModelsBenchResult, 'markdown'>;
  streams?: Omit<StreamsBenchResult, 'markdown'>;
  streamsSoak?: SoakResult;
  sources?: Omit<SourcesBenchResult, 'markdown'>;
  peers?: PeersBenchResult;
  startup?: StartupBenchResult;
  cluster?: Omit<ClusterBenchResult, 'markdown'>;
}

const n = (x: number, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '–');
const int = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–');

export function breakdownTable(title: string, b: BreakdownSummary): string[] {
  const out = [
    `**${title}** — from ${b.runs} histories (server timestamps); server-side start → completed p50 ${n(b.serverTotal.p50, 1)} ms`,
    '',
    '| phase | per run | p50 each (ms) | p95 each (ms) | sum per run p50 (ms) |',
    '|---|---:|---:|---:|---:|',
  ];
  for (const p of PHASES) {
    const s = b.phases[p];
    if (!s.perRun) continue;
    out.push(`| ${PHASE_LABELS[p]} | ${s.perRun} | ${n(s.each.p50, 1)} | ${n(s.each.p95, 1)} | ${n(s.sumP50, 1)} |`);
  }
  out.push('');
  return out;
}

/** Markdown for `bench/results/latest.md`. */
export function renderMarkdown(r: BenchResults): string {
  const lines = [
    `# Benchmark results`,
    '',
    `\`npm run bench\` on ${r.startedAt.slice(0, 16).replace('T', ' ')} UTC, ${r.machine.cpus} × ${r.machine.cpuModel}, ${r.machine.memoryGiB} GiB, Node ${r.machine.node}; took ${r.durationSeconds} s. ` +
      'Shared machine: other processes may have been running, so treat small differences as noise.',
    '',
  ];
  if (r.latency) {
    const l = r.latency;
    lines.push(
      '## Trigger → done latency (Temporal dev server on this machine)',
      '',
      '| workflow | runs (after warm-up) | p50 (ms) | p95 (ms) | max (ms) |',
      '|---|---:|---:|---:|---:|',
      `| \`launchImages\`: fetch page → ${l.launchImages.distinctImages} image downloads (4 at a time) → count → notify (webhook), local snapshot ${l.launchImages.snapshot} | ${l.launchImages.summary.n} | ${n(l.launchImages.summary.p50)} | ${n(l.launchImages.summary.p95)} | ${n(l.launchImages.summary.max)} |`,
      `| trivial chain: 3 no-op activities in sequence (orchestration overhead only) | ${l.trivialChain.summary.n} | ${n(l.trivialChain.summary.p50)} | ${n(l.trivialChain.summary.p95)} | ${n(l.trivialChain.summary.max)} |`,
      `| trivial chain, started with \`requestEagerStart\` (${l.trivialChainEagerStart.eagerlyStarted} of ${l.trivialChainEagerStart.summary.n + r.warmup} runs eagerly started by the server) | ${l.trivialChainEagerStart.summary.n} | ${n(l.trivialChainEagerStart.summary.p50)} | ${n(l.trivialChainEagerStart.summary.p95)} | ${n(l.trivialChainEagerStart.summary.max)} |`,
      '',
      `Measured client side from the start call to the result (gRPC client, worker in the same process with \`WORKER_TUNING\`). ` +
        `The images folder is emptied before every \`launchImages\` run, so each run downloads all ${l.launchImages.distinctImages} images from the local server.`,
      '',
      ...breakdownTable('Trivial chain breakdown', l.trivialChain.breakdown),
      ...breakdownTable('launchImages breakdown (activities overlap, so sums exceed the wall time)', l.launchImages.breakdown),
    );
  }
  if (r.ingest) {
    const g = r.ingest;
    const total = g.mqttToPostgres.messages;
    lines.push(
      '## Ingest throughput (MQTT → PostgreSQL)',
      '',
      `${total.toLocaleString('en-US')} messages: UCI Occupancy (${g.datasets['uci-occupancy'].rowsPerCopy.toLocaleString('en-US')} rows) + UCI Air Quality (${g.datasets['uci-air-quality'].rowsPerCopy.toLocaleString('en-US')} rows), each replayed ${g.rounds}× with shifted event times, published with QoS 1 (${'500'} in flight per publisher, one publisher process per data set, the same for the pass-through and the consumer).`,
      '',
      '| path | messages/s | ratio of consumer to it |',
      '|---|---:|---:|',
      `| MQTT QoS 1 → \`MqttBatchConsumer\` (batches of ${g.mqttToPostgres.batchSize}, PUBACK after commit) → PostgreSQL, committed rows | ${int(g.mqttToPostgres.perSecond)} | 1 |`,
      `| limit (i): raw \`COPY FROM STDIN\` of the same rows into a scratch table with the same key and index | ${int(g.rawCopy.perSecond)} | ${n(g.ratioToCopy, 2)} |`,
      `| limit (ii): MQTT QoS 1 pass-through, same broker, MQTT.js publish + subscribe, no database | ${int(g.mqttPassThrough.perSecond)} | ${n(g.ratioToPassThrough, 2)} |`,
      '',
      `Consumer: ${g.mqttToPostgres.inserted.toLocaleString('en-US')} rows inserted in ${g.mqttToPostgres.batches} batches, ${g.mqttToPostgres.duplicates} duplicates, ${g.mqttToPostgres.deadLettered} dead letters; ` +
        `publishing took ${g.mqttToPostgres.publishSeconds} s of the ${g.mqttToPostgres.seconds} s to the last commit.`,
      '',
    );
  }
  if (r.peers) lines.push(...renderPeers(r.peers), '');
  if (r.startup) lines.push(...renderStartup(r.startup), '');
  lines.push(
    'The orchestration-latency investigation (server dynamic config, worker and client options) is in `bench/results/latency-experiments.md` (`npm run bench -- --experiments`).',
    '',
  );
  return lines.join('\n');
}

/** The latency-investigation table. */
export function renderExperiments(rows: readonly ExperimentRow[]): string[] {
  const out = [
    '## Orchestration latency experiments (trivial chain: 3 no-op activities, private dev server)',
    '',
    'Trigger → done in ms, runs pooled over separate passes (p50 of each pass in brackets); phase columns are medians per occurrence from the histories.',
    '',
    '| server (dynamic config, store) | worker / client | runs | p50 [per pass] | p95 | WFT sched→start | WFT start→complete | activity sched→start | activity start→complete |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const x of rows) {
    const p50 = x.error ? `failed: ${x.error}` : `${n(x.p50)} [${x.passP50.map((v) => n(v)).join(', ')}]`;
    out.push(
      `| ${x.server} | ${x.client} | ${x.runs} | ${p50} | ${n(x.p95)} | ${n(x.wftScheduleToStartP50, 1)} | ${n(x.wftStartToCompleteP50, 1)} | ${n(x.activityScheduleToStartP50, 1)} | ${n(x.activityStartToCompleteP50, 1)} |`,
    );
  }
  out.push('');
  return out;
}

/** The peers table (`bench/results/peers-latest.md` and the peers section of `latest.md`). */
export function renderPeers(p: PeersBenchResult): string[] {
  const us = (x: number | undefined) => (x === undefined ? '–' : n(x, 1));
  const out = [
    '## Against the peers (same messages, broker, PostgreSQL and run)',
    '',
    `${p.startedAt.slice(0, 16).replace('T', ' ')} UTC, ${p.machine.cpus} × ${p.machine.cpuModel} (load average ${p.machine.loadAverage1m} at the end; ` +
      'the machine is shared, so absolute rates are noisy and the ratios, measured interleaved in one run, are what to compare). ' +
      `MQTT: ${int(p.mqttMessages)} QoS 1 sensor readings from the bench publisher process; Kafka: ${int(p.kafkaRecords)} telemetry records of 200 B on 4 partitions, ` +
      `each tool from the start of the topic with a new group. Rows/s: committed rows, median of ${p.repeats} interleaved runs after ${p.warmup} warm-up run of each (range in brackets). ` +
      "Ours / peer: ours' rows/s divided by the tool's in the same round (they ran back to back), median of the rounds (each round in brackets); for the pass-through limit, the share of it that ours reaches. " +
      "CPU per message: the ingesting process (ours: this Node.js process; peers: /proc/<pid>/stat), this stack's PostgreSQL (postmaster and backends) and the broker (Mosquitto or Kafka), each the median over the runs.",
    '',
    '| path | tool | rows/s | ours / peer | CPU µs/msg: process | PostgreSQL | broker | delivery | how |',
    '|---|---|---:|---:|---:|---:|---:|---|---|',
  ];
  for (const r of p.rows) {
    if (r.perSecond === undefined) {
      out.push(
        `| ${r.path} | ${r.tool} | not measured | – | – | – | – | ${r.delivery} | ${r.how}. **Failed:** ${(r.error ?? 'unknown').replace(/\|/g, '\\|').replace(/\n/g, ' ')} |`,
      );
      continue;
    }
    const range = r.runs && r.runs.length > 1 ? ` [${Math.min(...r.runs)}–${Math.max(...r.runs)}]` : '';
    const c = r.cpuUsPerMessage ?? {};
    out.push(
      `| ${r.path} | ${r.tool} | ${int(r.perSecond)}${range} | ${r.ours ? '1' : `${n(r.ratioOursToPeer ?? NaN, 2)} (${(r.pairedRatios ?? []).map((x) => n(x, 2)).join(', ')})`} | ${us(c.process)} | ${us(c.postgres)} | ${us(c.broker)} | ${r.delivery} | ${r.how} |`,
    );
  }
  out.push('', '| goal (issue 15) | measured | met |', '|---|---|---|');
  for (const g of p.goals) out.push(`| ${g.goal} | ${g.measured} | ${g.met === undefined ? 'not measured' : g.met ? 'yes' : 'no'} |`);
  out.push('');
  return out;
}

/** The start-up table (`bench/results/startup-latest.md` and the start-up section of `latest.md`). */
export function renderStartup(r: StartupBenchResult): string[] {
  const t = r.targets;
  const ms = (f: Figure) => `${n(f.medianMs)} ms (${n(f.minMs)}–${n(f.maxMs)})`;
  const s = (f: Figure) => `${n(f.medianMs / 1000, 2)} s (${n(f.minMs / 1000, 2)}–${n(f.maxMs / 1000, 2)})`;
  const met = (ok: boolean) => (ok ? 'met' : '**missed**');
  const m = r.modelsBuild;
  return [
    '## Start-up: whole processes from the command line',
    '',
    `${r.startedAt.slice(0, 16).replace('T', ' ')} UTC, ${r.machine.cpus} × ${r.machine.cpuModel}, Node ${r.machine.node}. ` +
      `Wall time of each process from spawn to exit (the worker: to its \`Worker polling task queue\` line, then Ctrl-C), measured by bench/startup.ts; ` +
      `median of ${r.runs} runs after ${r.warmup} warm-up run of each variant (min–max in brackets), the variants of a command interleaved run by run. ` +
      `The machine is shared (1-minute load average ${n(r.loadAverage.start, 1)} at the start, ${n(r.loadAverage.end, 1)} at the end, on ${r.machine.cpus} cores): ` +
      'absolute times are noisy, the medians and the side-by-side variants are what to compare.',
    '',
    '| command | today: `node --import tsx src/cli/main.ts` | compiled: `node bin/iot-pipelines.mjs` (dist/) | target (issue 15) | met |',
    '|---|---:|---:|---|---|',
    `| \`--help\` | ${ms(r.help.tsx)} | ${ms(r.help.dist)} | ≤ ${t.helpMs} ms | ${met(r.help.met)} |`,
    `| \`models build\` of bench/models/project (3 seeds, 6 models, 20 tests; 4 threads, a database of its own) | ${s(m.tsx)} | ${s(m.dist)} | ≤ ${t.modelsBuildSeconds} s | ${met(m.met.seconds)} |`,
    `| speed-up of that \`models build\` over \`dbt build\` of the same project and database, ${s(m.dbt)} (${m.dbtVersion}) | ${n(m.dbt.medianMs / m.tsx.medianMs, 1)}× | ${n(m.speedup, 1)}× | ≥ ${t.modelsSpeedup}× | ${met(m.met.speedup)} |`,
    `| \`worker\` start → \`Worker polling task queue\` (a task queue of its own) | ${s(r.worker.tsx)} | ${s(r.worker.dist)} | ≤ ${t.workerPollingMs / 1000} s | ${met(r.worker.met)} |`,
    '',
    `Node.js itself (\`node -e 0\`, run in the \`--help\` rounds) took ${ms(r.help.node)}: the floor of every command above. ` +
      "Today's worker bundles the workflow code with webpack at every start; the compiled one loads dist/workflow-bundle.js (built by `npm install`).",
    '',
  ];
}
