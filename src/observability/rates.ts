/**
 * Ingest rates per source for the dashboard, read from the Prometheus registry of this process
 * (`metrics.ts`): the same counters `/metrics` serves, no second bookkeeping. Rates are the counters'
 * increase between two samples divided by the time between them, as Prometheus' `rate()` takes them
 * (without extrapolation). Only consumers running in this process count (`npm start` runs the worker
 * beside the dashboard); elsewhere, scrape the workers' `/metrics` with Prometheus.
 */
import type { Registry } from 'prom-client';
import { registry as defaultRegistry } from './metrics';

/** One source's ingest as the dashboard shows it. */
export interface IngestRate {
  source: string;
  transport: string;
  /** Rows inserted since the process started. */
  rows: number;
  /** Dead letters written since the process started (all codes). */
  deadLetters: number;
  /** Rows per second over the last interval between samples (0 on the first sample). */
  rowsPerSecond: number;
  /** Dead letters per minute over the same interval. */
  deadLettersPerMinute: number;
  /** Kafka: records behind over all partitions (log end offset − committed position). */
  lag?: number;
  /** `running`, `waiting` or `stopped` (the consumer's state in this process). */
  state?: string;
}

type Values = Array<{ labels: Record<string, string | number>; value: number }>;

async function values(reg: Registry, name: string): Promise<Values> {
  const m = reg.getSingleMetric(name);
  return m ? ((await m.get()).values as Values) : [];
}

/** Samples the registry; each {@link sample} compares with the previous one. */
export class IngestRates {
  private previous: { at: number; rows: Map<string, number>; dead: Map<string, number> } | undefined;

  constructor(private readonly reg: Registry = defaultRegistry) {}

  /** The rates since the last call, per source and transport, sorted. */
  async sample(now = Date.now()): Promise<IngestRate[]> {
    const key = (l: Record<string, string | number>) => `${l.source}\u0000${l.transport}`;
    const rows = new Map<string, number>();
    for (const v of await values(this.reg, 'iot_pipelines_ingest_rows_total'))
      rows.set(key(v.labels), (rows.get(key(v.labels)) ?? 0) + v.value);
    const dead = new Map<string, number>();
    for (const v of await values(this.reg, 'iot_pipelines_ingest_dead_letters_total')) {
      dead.set(key(v.labels), (dead.get(key(v.labels)) ?? 0) + v.value);
    }
    const lag = new Map<string, number>();
    for (const v of await values(this.reg, 'iot_pipelines_kafka_consumer_lag')) {
      const k = `${v.labels.source}\u0000kafka`;
      lag.set(k, (lag.get(k) ?? 0) + v.value);
    }
    const state = new Map<string, string>();
    for (const v of await values(this.reg, 'iot_pipelines_stream_state'))
      if (v.value === 1) state.set(key(v.labels), String(v.labels.state));
    const prev = this.previous;
    const seconds = prev ? Math.max((now - prev.at) / 1000, 1e-3) : 0;
    const out: IngestRate[] = [];
    for (const k of new Set([...rows.keys(), ...dead.keys(), ...state.keys()])) {
      const [source, transport] = k.split('\u0000') as [string, string];
      const r = rows.get(k) ?? 0;
      const d = dead.get(k) ?? 0;
      out.push({
        source,
        transport,
        rows: r,
        deadLetters: d,
        rowsPerSecond: prev ? Math.max(0, r - (prev.rows.get(k) ?? 0)) / seconds : 0,
        deadLettersPerMinute: prev ? (Math.max(0, d - (prev.dead.get(k) ?? 0)) / seconds) * 60 : 0,
        ...(lag.has(k) ? { lag: lag.get(k)! } : {}),
        ...(state.has(k) ? { state: state.get(k)! } : {}),
      });
    }
    this.previous = { at: now, rows, dead };
    return out.sort((a, b) => a.source.localeCompare(b.source) || a.transport.localeCompare(b.transport));
  }
}
