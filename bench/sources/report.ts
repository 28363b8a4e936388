/**
 * The figures of the sources benchmark (bench/sources/main.ts) from its measured runs, and their
 * markdown: medians, ratios to the fixed kind of the same transport and round, and the check that
 * mapped JSON stays within {@link WITHIN} of the fixed-kind path.
 */
import type { DeclaredFormat } from './payloads';

/** Transports the benchmark measures. */
export type Transport = 'mqtt' | 'kafka';
/** A path of one transport: its raw limit, today's fixed kind, or a declared-source format. */
export type SourcesPathId = 'raw' | 'fixed' | DeclaredFormat | 'sparkplug';

/** How far below the fixed-kind path (as a fraction of its rows/s) mapped JSON may be. */
export const WITHIN = 0.1;

/** One measured run of a path. */
export interface SourcesRun {
  /** Committed rows (or, for a raw limit, messages) per second. */
  perSecond: number;
  /** CPU time of this Node.js process during the run, ms (where measured). */
  nodeCpuMs?: number;
}

/** The runs of one path, one per counted round, in round order. */
export interface MeasuredPath {
  transport: Transport;
  path: SourcesPathId;
  label: string;
  /** Messages (rows) per run. */
  messages: number;
  runs: SourcesRun[];
}

/** One row of the report. */
export interface SourcesPathResult {
  transport: Transport;
  path: SourcesPathId;
  label: string;
  messages: number;
  /** Median rows/s over the rounds. */
  perSecond: number;
  /** Rows/s of each round. */
  runs: number[];
  /** This path's rows/s divided by the fixed kind's in the same round, median over the rounds. */
  ratioToFixed: number;
  /** Those ratios, one per round. */
  pairedRatios: number[];
  /** CPU µs of this Node.js process per row, median over the rounds; undefined where not measured. */
  nodeCpuUsPerRow?: number;
}

/** Whether mapped JSON stays within {@link WITHIN} of the fixed-kind path on one transport. */
export interface SourcesCheck {
  transport: Transport;
  /** Mapped JSON's {@link SourcesPathResult.ratioToFixed}. */
  ratio: number;
  /** ratio ≥ 1 − {@link WITHIN}; false when either path is missing. */
  holds: boolean;
  /** Every round's ratio is on the same side of 1 − {@link WITHIN} as the median (else the machine's noise decided). */
  roundsAgree: boolean;
}

/** What the report needs besides the paths. */
export interface SourcesContext {
  startedAt: string;
  cpus: number;
  cpuModel: string;
  /** 1-minute load average at the start and at the end. */
  loadAverage: { start: number; end: number };
  mqttMessages: number;
  kafkaRecords: number;
  repeats: number;
  /** Messages of each path's warm-up run (not counted). */
  warmupMessages: { mqtt: number; kafka: number };
  durationSeconds: number;
}

/** Summaries of {@link summarise}. */
export interface SourcesSummary {
  paths: SourcesPathResult[];
  checks: SourcesCheck[];
}

/** The median of `xs` (the mean of the middle two for an even count); NaN when empty. */
export function medianOf(xs: readonly number[]): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const TRANSPORTS: Transport[] = ['mqtt', 'kafka'];

/**
 * Medians, paired ratios to the fixed kind of the same transport and round, CPU per row, and the
 * mapped-JSON check per transport.
 */
export function summarise(measured: readonly MeasuredPath[]): SourcesSummary {
  const fixed = new Map(measured.filter((m) => m.path === 'fixed').map((m) => [m.transport, m]));
  const paths = measured.map((m): SourcesPathResult => {
    const f = fixed.get(m.transport);
    const paired = f ? m.runs.map((r, i) => r.perSecond / (f.runs[i]?.perSecond ?? NaN)).filter((x) => Number.isFinite(x)) : [];
    const cpu = m.runs.map((r) => r.nodeCpuMs).filter((x): x is number => x !== undefined);
    return {
      transport: m.transport,
      path: m.path,
      label: m.label,
      messages: m.messages,
      perSecond: Math.round(medianOf(m.runs.map((r) => r.perSecond))),
      runs: m.runs.map((r) => r.perSecond),
      ratioToFixed: medianOf(paired),
      pairedRatios: paired,
      nodeCpuUsPerRow: cpu.length ? (medianOf(cpu) * 1000) / m.messages : undefined,
    };
  });
  const checks = TRANSPORTS.filter((t) => measured.some((m) => m.transport === t)).map((transport): SourcesCheck => {
    const json = paths.find((p) => p.transport === transport && p.path === 'json');
    const ratio = json?.ratioToFixed ?? NaN;
    const holds = Number.isFinite(ratio) && ratio >= 1 - WITHIN;
    const rounds = json?.pairedRatios ?? [];
    return { transport, ratio, holds, roundsAgree: rounds.length > 0 && rounds.every((r) => r >= 1 - WITHIN === holds) };
  });
  return { paths, checks };
}

const NAMES: Record<Transport, string> = { mqtt: 'MQTT', kafka: 'Kafka' };
const int = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–');
const fixed2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '–');

/** The markdown section (`## Declared sources …`) of `latest.md`. */
export function renderSources(s: SourcesSummary, c: SourcesContext): string {
  const lines = [
    '## Declared sources: rows/s per format beside the fixed kinds',
    '',
    `${c.startedAt.slice(0, 16).replace('T', ' ')} UTC, ${c.cpus} × ${c.cpuModel}; 1-minute load average ${c.loadAverage.start.toFixed(1)} at the start, ` +
      `${c.loadAverage.end.toFixed(1)} at the end; took ${c.durationSeconds} s. The machine is shared: absolute rates are noisy, the ratios (paths of a transport measured interleaved, round by round) are what to compare. ` +
      `MQTT: ${int(c.mqttMessages)} real UCI Occupancy readings (replayed with shifted event times) per run, QoS 1 from the bench publisher process, ` +
      `as the sensor reading's JSON, one CSV line or one line of line protocol per message, \`MqttBatchConsumer\` batches of 5,000, PUBACK after commit. ` +
      `Kafka: ${int(c.kafkaRecords)} modem telemetry records per run (JSON, one CSV line or one line of line protocol per record) on 4 partitions, ` +
      '`KafkaBatchConsumer` from the start of the topic with a new group, transactions of up to 10,000 records. ' +
      'Each declared source is equivalent to its fixed kind (the same fields into the same columns; line protocol also keeps its measurement name in `attributes`, as the shipped Telegraf sources do) and gets a name and table of its own per run, created with `applyTable` and dropped afterwards. ' +
      `Rows/s: committed rows, median of ${c.repeats} rounds after a warm-up round of ${int(c.warmupMessages.mqtt)} MQTT / ${int(c.warmupMessages.kafka)} Kafka messages per path (range in brackets; the order of the paths rotates each round). ` +
      'Ratio: rows/s over the fixed kind’s in the same round, median over the rounds (each round in brackets). ' +
      'Node.js CPU: this process (consumer, parsing and mapping, PostgreSQL client; for the fixed Kafka kind also its encoder thread) per row, median.',
    '',
    '| transport | path | rows/s | ratio to fixed kind | Node.js CPU µs/row |',
    '|---|---|---:|---:|---:|',
  ];
  for (const p of s.paths) {
    const range = p.runs.length > 1 ? ` [${int(Math.min(...p.runs))}–${int(Math.max(...p.runs))}]` : '';
    const ratio = p.path === 'fixed' ? '1' : `${fixed2(p.ratioToFixed)} (${p.pairedRatios.map(fixed2).join(', ')})`;
    const cpu = p.nodeCpuUsPerRow === undefined ? '–' : p.nodeCpuUsPerRow.toFixed(1);
    lines.push(`| ${NAMES[p.transport]} | ${p.label} | ${int(p.perSecond)}${range} | ${ratio} | ${cpu} |`);
  }
  const verdict = s.checks
    .map((x) => {
      const rounds = s.paths.find((p) => p.transport === x.transport && p.path === 'json')?.pairedRatios ?? [];
      const split =
        rounds.length && !x.roundsAgree ? `; the rounds disagree, ${fixed2(Math.min(...rounds))}–${fixed2(Math.max(...rounds))}` : '';
      return `${NAMES[x.transport]} ${x.holds ? 'yes' : '**no**'} (${fixed2(x.ratio)}${split})`;
    })
    .join(', ');
  lines.push(
    '',
    `Mapped JSON stays within ${WITHIN * 100} % of the fixed-kind path (at least ${Math.round((1 - WITHIN) * 100)} % of its rows/s, ratio in brackets): ${verdict || 'not measured'}.`,
    '',
  );
  return lines.join('\n');
}
