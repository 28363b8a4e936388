/**
 * Dead letters re-driven on the real PostgreSQL: a record rejected because its device clock ran ahead
 * passes once the clock has caught up and is written exactly once through the batch writer (lineage,
 * device status), its letter marked; a letter that still fails stays with today's reason; a dry run
 * writes nothing; letters without a recorded kind are named until one is given. Also the CLI.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { listDeadLetters, redriveDeadLetters } from '../src/ingest/redrive';
import { encodeReading, encodeTelemetry } from '../src/simulator/payloads';
import { testPool, uniqueSuffix } from './support/db';
import { ingestThrough, writeDeadLetters } from './support/ingest';
import { spawnCli } from './support/processes';

const pool = testPool();
afterAll(async () => {
  await pool.end();
});

const DAY = 86_400_000;

function record(eventTime: number, cpu: number): Buffer {
  return Buffer.from(
    encodeTelemetry({
      deviceId: 'modem-7',
      eventTime,
      model: 'RUT955',
      interface: 'wan',
      interfaceStatus: 'up',
      cpuUsage: cpu,
      memoryUsage: 30,
    }),
  );
}

async function ingest(source: string, payloads: Buffer[], now: number): Promise<void> {
  await ingestThrough(
    pool,
    'modem',
    source,
    payloads.map((payload, offset) => ({
      payload,
      topic: `t-${source}`,
      origin: { topic: `t-${source}`, partition: 0, offset },
      dedupeKey: `kafka:t-${source}:0:${offset}`,
    })),
    { now },
  );
}

async function count(source: string): Promise<number> {
  const r = await pool.query<{ n: string }>('SELECT count(*) AS n FROM ingest.modem_telemetry WHERE source = $1', [source]);
  return Number(r.rows[0]!.n);
}

async function runCli(args: string[]): Promise<string> {
  const child = spawnCli(args, {});
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  expect(code, child.output()).toBe(0);
  return child.output();
}

describe('dead letters', () => {
  it('re-drives in pages of one transaction each: every letter once, still-failing ones passed over, limit across pages', async () => {
    const source = `dl-pages-${uniqueSuffix()}`;
    const now = Date.now();
    const ahead = now + 2 * DAY;
    // 10 letters that pass once the clock catches up, 4 that never will, interleaved by id.
    const payloads: Buffer[] = [];
    for (let i = 0; i < 10; i++) {
      payloads.push(record(ahead + i * 1000, i));
      if (i % 3 === 0) payloads.push(Buffer.from(`{"broken": ${i}`));
    }
    await ingest(source, payloads, now);
    expect((await listDeadLetters(pool, { source })).length).toBe(14);
    const later = now + 3 * DAY;

    const dry = await redriveDeadLetters(pool, { source, now: later, dryRun: true, pageSize: 4 });
    expect(dry).toMatchObject({ examined: 14, pages: 4, redriven: 10, stillInvalidCount: 4, batchIds: [] });
    expect(await count(source)).toBe(0);

    const first = await redriveDeadLetters(pool, { source, now: later, pageSize: 4, limit: 6 });
    expect(first).toMatchObject({ examined: 6, pages: 2 });
    expect(first.batchIds).toHaveLength(2); // one lineage row per page (one source and kind)
    const rest = await redriveDeadLetters(pool, { source, now: later, pageSize: 4 });
    // The still-failing letters of the first call are examined again, none of the re-driven ones.
    expect(rest.examined).toBe(14 - first.redriven);
    expect(first.redriven + rest.redriven).toBe(10);
    expect(rest.stillInvalidCount).toBe(4);
    expect(await count(source)).toBe(10);
    const open = await listDeadLetters(pool, { source });
    expect(open.map((d) => d.errorCode)).toEqual(['not_json', 'not_json', 'not_json', 'not_json']);
    // Each page committed on its own: every batch holds at most one page of rows.
    const batches = await pool.query<{ n: string }>(
      'SELECT count(*) AS n FROM ingest.modem_telemetry WHERE source = $1 GROUP BY batch_id',
      [source],
    );
    expect(Math.max(...batches.rows.map((r) => Number(r.n)))).toBeLessThanOrEqual(4);
    expect(batches.rows.length).toBe(first.batchIds.length + rest.batchIds.length);
  });

  it(
    're-drives a letter that now passes exactly once, keeps the one that still fails, and a dry run writes nothing',
    { timeout: 60_000 },
    async () => {
      const source = `dl-redrive-${uniqueSuffix()}`;
      const now = Date.now();
      const ahead = now + 2 * DAY; // a device clock two days ahead
      await ingest(source, [record(now - 60_000, 10), record(ahead, 55), Buffer.from('{"model": ')], now);
      expect(await count(source)).toBe(1);
      const open = await listDeadLetters(pool, { source });
      expect(open.map((d) => [d.errorCode, d.kind]).sort()).toEqual([
        ['future_timestamp', 'source:modem'],
        ['not_json', 'source:modem'],
      ]);

      // Before the clock has caught up, nothing passes.
      const early = await redriveDeadLetters(pool, { source, now });
      expect(early).toMatchObject({ examined: 2, redriven: 0, stillInvalidCount: 2 });

      const later = now + 3 * DAY;
      const dry = await redriveDeadLetters(pool, { source, now: later, dryRun: true });
      expect(dry).toMatchObject({ examined: 2, redriven: 1, stillInvalidCount: 1, dryRun: true, batchIds: [] });
      expect(await count(source)).toBe(1);
      expect((await listDeadLetters(pool, { source })).length).toBe(2);

      const done = await redriveDeadLetters(pool, { source, now: later });
      expect(done).toMatchObject({ examined: 2, redriven: 1, inserted: 1, stillInvalidCount: 1 });
      expect(done.stillInvalid[0]!.code).toBe('not_json');
      expect(done.batchIds).toHaveLength(1);
      const rows = await pool.query<{ event_time: Date; cpu_usage: number; batch_id: string }>(
        'SELECT event_time, cpu_usage, batch_id FROM ingest.modem_telemetry WHERE source = $1 ORDER BY event_time',
        [source],
      );
      expect(rows.rows.map((r) => r.cpu_usage)).toEqual([10, 55]);
      expect(rows.rows[1]!.event_time.getTime()).toBe(ahead);
      expect(Number(rows.rows[1]!.batch_id)).toBe(done.batchIds[0]);
      const lineage = await pool.query<{ consumer: string; rows_inserted: number }>(
        'SELECT consumer, rows_inserted FROM ingest.batches WHERE id = $1',
        [done.batchIds[0]],
      );
      expect(lineage.rows[0]).toEqual({ consumer: 'redrive', rows_inserted: 1 });
      const status = await pool.query<{ event_time: Date }>('SELECT event_time FROM ingest.device_status WHERE source = $1', [source]);
      expect(status.rows[0]!.event_time.getTime()).toBe(ahead);
      const all = await listDeadLetters(pool, { source }, { includeRedriven: true });
      const redriven = all.find((d) => d.errorCode === 'future_timestamp')!;
      expect(redriven.redrivenBatchId).toBe(done.batchIds[0]);
      expect(redriven.redrivenAt).toBeInstanceOf(Date);

      // Idempotent: the re-driven letter is not taken again.
      expect(await redriveDeadLetters(pool, { source, now: later })).toMatchObject({ examined: 1, redriven: 0 });
      expect(await count(source)).toBe(2);

      // The CLI lists open letters (the re-driven one only with --all) and re-drives with the same rules.
      const listed = await runCli(['dead-letters', 'list', '--source', source]);
      expect(listed).toContain('not_json');
      expect(listed).not.toContain('future_timestamp');
      expect(await runCli(['dead-letters', 'list', '--source', source, '--all'])).toContain('future_timestamp');
      const cli = await runCli(['dead-letters', 'redrive', '--source', source, '--dry-run']);
      expect(cli).toContain('Dry run: would re-drive 0 of 1 open dead letter(s).');
      expect(cli).toMatch(/#\d+ not_json: payload is not JSON/);
    },
  );

  it('names letters without a recorded kind until one is given', async () => {
    const source = `dl-kind-${uniqueSuffix()}`;
    const now = Date.now();
    await ingest(source, [record(now + 2 * DAY, 20)], now);
    // A letter written before kinds were recorded (Kafka origin: the topic does not tell the kind).
    await pool.query('UPDATE ingest.dead_letters SET kind = NULL WHERE source = $1', [source]);
    const [letter] = await listDeadLetters(pool, { source });
    const later = now + 3 * DAY;
    expect(await redriveDeadLetters(pool, { source, now: later })).toMatchObject({ redriven: 0, unknownKind: [letter!.id] });
    expect(await redriveDeadLetters(pool, { source, now: later, kind: 'modem' })).toMatchObject({
      redriven: 1,
      inserted: 1,
      unknownKind: [],
    });
    expect(await count(source)).toBe(1);
  });

  it('re-drives a letter rejected for its MQTT topic under the source its topic names, and keeps one whose topic names none', async () => {
    const source = `dl-topic-${uniqueSuffix()}`;
    const payload = Buffer.from(
      encodeReading({
        deviceId: 'room-1',
        eventTime: Date.UTC(2024, 4, 1),
        temperature: 21.5,
        humidity: 40,
        light: null,
        co2: null,
        humidityRatio: null,
      }),
    );
    const letter = (topic: string, n: number) => ({
      source: 'unknown',
      origin: { mqttTopic: topic, messageId: n },
      payload,
      code: 'topic' as const,
      reason: `topic ${topic} is not <prefix>/<source>/<device>`,
      dedupeKey: `test-topic:${source}:${n}`,
      kind: 'source:sensor' as const,
    });
    await writeDeadLetters(pool, 'unknown', [letter(`sensors/${source}/room-1`, 1), letter(`garbage-${source}`, 2)]);
    const r = await redriveDeadLetters(pool, {
      ids: (await listDeadLetters(pool, { source: 'unknown', code: 'topic' }, { limit: 1000 }))
        .filter((d) => JSON.stringify(d.origin).includes(source))
        .map((d) => d.id),
    });
    expect(r).toMatchObject({ examined: 2, redriven: 1, inserted: 1, stillInvalidCount: 1 });
    expect(r.stillInvalid[0]!.reason).toContain(`garbage-${source}`);
    const rows = await pool.query<{ temperature: number }>('SELECT temperature FROM ingest.sensor_readings WHERE source = $1', [source]);
    expect(rows.rows).toEqual([{ temperature: 21.5 }]);
    expect((await pool.query('SELECT 1 FROM ingest.sensor_readings WHERE source = $1', ['unknown'])).rowCount).toBe(0);
  });
});
