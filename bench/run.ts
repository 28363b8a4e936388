/**
 * `npm run bench`: benchmarks (not tests) against the real stack, started or reused by `ensureStack`.
 * Measures trigger → done latency of the launch pipeline and of a trivial three-activity chain, and
 * MQTT → PostgreSQL ingest throughput beside raw COPY and MQTT pass-through; writes
 * `bench/results/latest.json` and `latest.md`.
 *
 * Options: `--experiments` also runs the orchestration-latency investigation on private dev servers
 * (port 17233; about 3 more minutes) into `bench/results/latency-experiments.{json,md}`;
 * `--only=latency,ingest,streams,sources,recovery,models,peers,startup,cluster,experiments` runs a subset (`peers`: bench/peers/main.ts;
 * `cluster`: bench/cluster.ts, the dev server beside a cluster-mode stack, 1/2/3 workers, `--cluster-records=N`, default 200000;
 * `startup`: bench/startup.ts, also written to `bench/results/startup-latest.{json,md}`; `sources`: bench/sources/main.ts); `--runs=N` (default 20), `--warmup=N` (default 5),
 * `--rounds=N` (ingest copies of each data set, default 3), `--sources-messages=N` / `--sources-records=N` / `--sources-repeats=N`
 * (MQTT messages and Kafka records per run of the sources section, and its counted rounds; defaults 50000, 100000, 3).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { databaseUrl, mqttUrl } from '../src/config/env';
import { ensureStack } from '../src/stack/index';
import { WORKER_TUNING } from '../src/workers/worker';
import { runClusterBench } from './cluster';
import { runExperiments } from './experiments';
import { runIngestBench } from './ingest-bench';
import { runTrivialChainBench } from './latency';
import { runLaunchBench } from './launch-bench';
import { runRecoveryBench } from './recovery';
import { runModelsBench } from './models/main';
import { PEERS_WATCHDOG_MS, runPeersBench } from './peers/main';
import { runSourcesBench, SOURCES_WATCHDOG_MS } from './sources/main';
import { runStreamsBench } from './streams/main';
import { runSoak } from './streams/soak';
import { renderExperiments, renderMarkdown, renderPeers, renderStartup, type BenchResults } from './report';
import { MERGED_PARTS, mergeWithPrevious, readPrevious, SECTION_ORDER } from './results-file';
import { runStartupBench } from './startup';

/** Whole-run watchdog: the process exits with code 2 after this long. @default 15 min */
/** Soak length, s (`--soak-seconds`, 0 skips it). @default 600 (the 10-minute soak) */
const SOAK_SECONDS = Number(process.argv.find((x) => x.startsWith('--soak-seconds='))?.split('=')[1] ?? 600);
const WATCHDOG_MS =
  15 * 60_000 +
  (SOAK_SECONDS > 0 ? (SOAK_SECONDS + 240) * 1000 : 0) +
  (arg('only')?.includes('peers') === false ? 0 : PEERS_WATCHDOG_MS) +
  (arg('only')?.includes('sources') === false ? 0 : SOURCES_WATCHDOG_MS);

const RESULTS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results');

function arg(name: string): string | undefined {
  const a = process.argv.find((x) => x === `--${name}` || x.startsWith(`--${name}=`));
  if (a === undefined) return undefined;
  return a.includes('=') ? a.slice(a.indexOf('=') + 1) : '';
}

function intArg(name: string, fallback: number): number {
  const v = arg(name);
  if (v === undefined) return fallback;
  const x = Number(v);
  if (!Number.isInteger(x) || x < 1) throw new Error(`--${name}=${v} is not a positive integer`);
  return x;
}

function writeResults(base: string, json: unknown, md: string): void {
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  // Per-run breakdowns are only needed to merge measurements; the summaries are kept.
  const replacer = (key: string, value: unknown) => (key === 'runBreakdowns' ? undefined : value);
  fs.writeFileSync(path.join(RESULTS_DIR, `${base}.json`), `${JSON.stringify(json, replacer, 2)}\n`);
  fs.writeFileSync(path.join(RESULTS_DIR, `${base}.md`), md);
  console.log(`wrote bench/results/${base}.json and ${base}.md`);
}

async function main(): Promise<void> {
  const only = arg('only')?.split(',').filter(Boolean);
  const parts = new Set(
    only ?? [
      'latency',
      'ingest',
      'streams',
      'sources',
      'models',
      'startup',
      'peers',
      'cluster',
      ...(arg('experiments') !== undefined ? ['experiments'] : []),
    ],
  );
  const runs = intArg('runs', 20);
  const warmup = intArg('warmup', 5);
  const rounds = intArg('rounds', 3);
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const t0 = Date.now();
  const stack = await ensureStack({ services: ['temporal', 'postgres', 'mosquitto', 'kafka'] });
  const s = stack.settings;
  const cpus = os.cpus();
  const results: BenchResults = {
    startedAt: new Date(t0).toISOString(),
    durationSeconds: 0,
    warmup,
    machine: {
      cpus: cpus.length,
      cpuModel: cpus[0]?.model.trim() ?? 'unknown',
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      node: process.versions.node,
      platform: `${os.platform()} ${os.release()}`,
    },
    temporal: { address: s.temporalAddress, workerOptions: { ...WORKER_TUNING } },
  };
  try {
    if (parts.has('latency')) {
      console.log(`latency: launchImages, ${warmup} warm-up + ${runs} runs…`);
      const launchImages = await runLaunchBench(s, { warmup, runs });
      console.log(
        `  launchImages p50 ${launchImages.summary.p50} ms, p95 ${launchImages.summary.p95} ms, max ${launchImages.summary.max} ms`,
      );
      const common = { address: s.temporalAddress, namespace: s.temporalNamespace, workerOptions: WORKER_TUNING, warmup, runs };
      console.log(`latency: trivial chain, ${warmup} warm-up + ${runs} runs…`);
      const trivialChain = await runTrivialChainBench(common);
      console.log(
        `  trivial chain p50 ${trivialChain.summary.p50} ms, p95 ${trivialChain.summary.p95} ms, max ${trivialChain.summary.max} ms`,
      );
      const trivialChainEagerStart = await runTrivialChainBench({ ...common, eagerStart: true });
      console.log(
        `  trivial chain (requestEagerStart; ${trivialChainEagerStart.eagerlyStarted}/${warmup + runs} eagerly started) p50 ${trivialChainEagerStart.summary.p50} ms, p95 ${trivialChainEagerStart.summary.p95} ms`,
      );
      results.latency = { launchImages, trivialChain, trivialChainEagerStart };
    }
    if (parts.has('ingest')) {
      console.log(`ingest: ${rounds} copies of each data set…`);
      results.ingest = await runIngestBench({ databaseUrl: databaseUrl(s), mqttUrl: mqttUrl(s), rounds });
      const g = results.ingest;
      console.log(
        `  MQTT→PostgreSQL ${g.mqttToPostgres.perSecond} msg/s; raw COPY ${g.rawCopy.perSecond} rows/s (ratio ${g.ratioToCopy}); MQTT pass-through ${g.mqttPassThrough.perSecond} msg/s (ratio ${g.ratioToPassThrough})`,
      );
    }
    /** Markdown sections by part, in the order of {@link SECTION_ORDER}. */
    const sections = new Map<string, string>();
    if (parts.has('streams')) {
      console.log('streams: Kafka → PostgreSQL and MQTT → PostgreSQL beside their raw limits…');
      const { markdown, ...streams } = await runStreamsBench({
        records: intArg('records', 200_000),
        mqttMessages: intArg('mqtt-messages', 50_000),
      });
      results.streams = streams;
      sections.set('streams', markdown);
      for (const r of streams.rows) console.log(`  ${r.name}: ${r.perSecond} msg/s`);
      if (!(SOAK_SECONDS >= 0)) throw new Error(`--soak-seconds must be a number >= 0`);
      if (SOAK_SECONDS > 0) {
        const rate = intArg('soak-rate', 500);
        console.log(`streams: soak, ${SOAK_SECONDS} s at ${rate} msg/s per stream…`);
        const { markdown: soakMarkdown, ...soak } = await runSoak({ seconds: SOAK_SECONDS, ratePerSecond: rate });
        results.streamsSoak = soak;
        sections.set('streamsSoak', soakMarkdown);
        console.log(
          `  worker RSS ${soak.rss.startMiB} → ${soak.rss.endMiB} MiB (${soak.rss.growthPct} %), longest history ${soak.longestHistory} events`,
        );
      }
    }
    if (parts.has('sources')) {
      console.log(
        'sources: declared sources (JSON, JSON + JSONata, CSV, line protocol) beside the fixed kinds and raw limits, MQTT and Kafka…',
      );
      const { markdown, ...sources } = await runSourcesBench({
        mqttMessages: intArg('sources-messages', 50_000),
        kafkaRecords: intArg('sources-records', 100_000),
        repeats: intArg('sources-repeats', 3),
      });
      results.sources = sources;
      sections.set('sources', markdown);
      for (const c of sources.checks) {
        console.log(`  ${c.transport}: mapped JSON at ${c.ratio.toFixed(2)} of the fixed kind (within 10 %: ${c.holds ? 'yes' : 'no'})`);
      }
    }
    // Recovery from crashed workers (bench/recovery.ts): in every full run, or with `--only=recovery`.
    if (parts.has('recovery') || !only) {
      const { markdown, ...recovery } = await runRecoveryBench({ kills: intArg('kills', 10) });
      sections.set('recovery', markdown);
      writeResults('recovery', recovery, `${markdown}\n`);
    }
    if (parts.has('models')) {
      console.log('models: dbt-style project built directly, as a workflow, and by dbt-core…');
      const { markdown, ...models } = await runModelsBench();
      results.models = models;
      sections.set('models', markdown);
      console.log(`  speed-up vs dbt build: direct ${models.speedup.direct}×, workflow ${models.speedup.workflow}×`);
    }
    if (parts.has('cluster')) {
      console.log('cluster: the dev server beside two Temporal servers and three Kafka brokers; 1, 2 and 3 workers…');
      const { markdown, ...cluster } = await runClusterBench({ dev: s, records: intArg('cluster-records', 200_000), warmup, runs });
      results.cluster = cluster;
      sections.set('cluster', markdown);
    }
    if (parts.has('startup')) {
      console.log('startup: --help, models build (beside dbt build) and worker start as whole processes, compiled and through tsx…');
      results.startup = await runStartupBench();
      writeResults('startup-latest', results.startup, renderStartup(results.startup).join('\n'));
    }
    if (parts.has('peers')) {
      console.log('peers: the same messages through Telegraf, Python glue scripts and Kafka Connect beside ours…');
      results.peers = await runPeersBench({
        records: intArg('records', 200_000),
        mqttMessages: intArg('mqtt-messages', 50_000),
        repeats: intArg('peer-repeats', 5),
      });
      writeResults(
        'peers-latest',
        { ...results.peers, node: results.machine.node, memoryGiB: results.machine.memoryGiB },
        renderPeers(results.peers).join('\n'),
      );
    }
    results.durationSeconds = Math.round((Date.now() - t0) / 1000);
    if (MERGED_PARTS.some((k) => results[k] !== undefined) || sections.size) {
      const merged = mergeWithPrevious(results, sections, readPrevious(RESULTS_DIR));
      const measured = Object.entries(merged.measuredAt ?? {})
        .map(([k, at]) => `${k} ${at.slice(0, 16).replace('T', ' ')} UTC`)
        .join(', ');
      const body = SECTION_ORDER.map((k) => merged.sections?.[k]).filter((m): m is string => m !== undefined);
      writeResults('latest', merged, [renderMarkdown(merged), `Parts measured: ${measured}.`, ...body].join('\n\n'));
    }
    if (parts.has('experiments')) {
      console.log('experiments: orchestration latency on private dev servers (port 17233)…');
      const rows = await runExperiments(s.stackDir, { warmup, runs });
      writeResults(
        'latency-experiments',
        { startedAt: new Date().toISOString(), machine: results.machine, runs, warmup, rows },
        renderExperiments(rows).join('\n'),
      );
    }
  } finally {
    await stack.stop();
  }
}

const watchdog = setTimeout(() => {
  console.error(`bench: still running after ${WATCHDOG_MS / 60_000} min; exiting.`);
  process.exit(2);
}, WATCHDOG_MS);
watchdog.unref();

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error('bench failed:', e);
    process.exit(1);
  },
);
