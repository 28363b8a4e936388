/**
 * Lake export on the real stack: rows ingested through the batch writer are exported by the lakeExport
 * workflow to Hive-partitioned Parquet and read back with DuckDB; a re-run replaces the partition.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, describe, expect, it } from 'vitest';
import { createLakeActivities } from '../src/activities/lake-export';
import { ROOT_DIR } from '../src/config/env';
import { writeBatch } from '../src/ingest/batch-writer';
import { parseMessages } from '../src/ingest/kinds';
import { encodeTelemetry } from '../src/ingest/telemetry';
import { testPool, uniqueSuffix } from './support/db';
import { recordHistory, withWorker } from './support/temporal';

const pool = testPool();
const lakeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lake-'));
afterAll(async () => {
  await pool.end();
  fs.rmSync(lakeDir, { recursive: true, force: true });
});

async function duck(sql: string): Promise<Record<string, unknown>[]> {
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  try {
    return (await conn.runAndReadAll(sql)).getRowObjectsJson();
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

describe('lake export', () => {
  it('exports an hour of raw events and dead letters to partitioned Parquet, replaced on re-run', async () => {
    const source = `lake-${uniqueSuffix()}`;
    const t0 = Date.UTC(2024, 4, 1, 12);
    const messages = [...Array(50).keys()].map((i) => ({
      payload: Buffer.from(
        encodeTelemetry({
          deviceId: `m-${i % 5}`,
          eventTime: t0 + i * 1000,
          model: 'RUT955',
          interface: 'wan',
          interfaceStatus: 'up',
          cpuUsage: i,
          memoryUsage: 50,
        }),
      ),
      origin: { topic: 't', partition: 0, offset: i },
      dedupeKey: `lake-test:${source}:${i}`,
    }));
    // Longer than 57 bytes: PostgreSQL's base64 wraps lines there, which the export must undo.
    const badPayload = `{"bad": "${'x'.repeat(200)}"`;
    messages.push({
      payload: Buffer.from(badPayload),
      origin: { topic: 't', partition: 0, offset: 50 },
      dedupeKey: `lake-test:${source}:bad`,
    });
    const parsed = parseMessages('modem', source, messages);
    await writeBatch(pool, { source, consumer: 'test', readings: [], telemetry: parsed.telemetry, deadLetters: parsed.deadLetters });
    const { rows } = await pool.query<{ h: Date }>(
      "SELECT date_trunc('hour', max(received_at)) AS h FROM ingest.modem_telemetry WHERE source = $1",
      [source],
    );
    const hour = rows[0]!.h;
    await withWorker(
      { workflowsPath: path.join(ROOT_DIR, 'src/workflows/lake-export.ts'), activities: createLakeActivities({ pool, lakeDir }) },
      async ({ client, taskQueue }) => {
        const run = (id: string): Promise<unknown> =>
          client.workflow.execute('lakeExport', {
            workflowId: id,
            taskQueue,
            args: [
              {
                dataIntervalStart: hour.toISOString(),
                dataIntervalEnd: new Date(hour.getTime() + 3_600_000).toISOString(),
                datasets: ['modem_telemetry', 'errors'],
                sources: [source],
              },
            ],
          });
        const workflowId = `lake-export-${source}`;
        const r = (await run(workflowId)) as { rows: number; partitions: Array<{ prefix: string }> };
        expect(r.rows).toBe(51);
        const iso = hour.toISOString();
        const prefix = `dt=${iso.slice(0, 10)}/hour=${iso.slice(11, 13)}`;
        expect(r.partitions.map((p) => p.prefix).sort()).toEqual([`errors/${prefix}`, `modem_telemetry/${prefix}`]);
        const glob = path.join(lakeDir, 'modem_telemetry', '**', '*.parquet');
        const back = await duck(
          `SELECT count(*) AS n, sum(cpu_usage) AS cpu, min(dt) AS dt, min(hour) AS hour FROM read_parquet('${glob}', hive_partitioning = true) WHERE source = '${source}'`,
        );
        expect(Number(back[0]!.n)).toBe(50);
        expect(Number(back[0]!.cpu)).toBe((49 * 50) / 2);
        expect(String(back[0]!.dt)).toBe(iso.slice(0, 10));
        const errors = await duck(
          `SELECT error_code, reason, decode(payload) AS payload FROM read_parquet('${path.join(lakeDir, 'errors', '**', '*.parquet')}') WHERE source = '${source}'`,
        );
        expect(errors).toHaveLength(1);
        expect(errors[0]!.error_code).toBe('not_json');
        expect(errors[0]!.payload).toBe(badPayload);
        // Re-run: same partition replaced, not appended.
        await run(`${workflowId}-rerun`);
        const again = await duck(`SELECT count(*) AS n FROM read_parquet('${glob}') WHERE source = '${source}'`);
        expect(Number(again[0]!.n)).toBe(50);
        expect(fs.readdirSync(path.join(lakeDir, 'modem_telemetry', prefix))).toEqual(['part-0.parquet']);
        await recordHistory(client, workflowId, 'lakeExport-hour-rerun');
      },
    );
  });
});
