/**
 * Declared sources on the real stack (Mosquitto, Kafka, PostgreSQL, the Temporal dev server): the three
 * quoted producers land through their shipped source files on their original topics; a CSV stream
 * lands; a measurement added to a running source adds a column while messages keep flowing, and loses
 * or doubles none; an incompatible change is refused with how to migrate; a dbt model selects from a
 * new source with `{{ source() }}`; `sources test` runs from the compiled CLI and writes nothing.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import type { Client } from '@temporalio/client';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { registerModelCommands } from '../src/cli/models';
import { kafkaBrokers, mqttUrl, ROOT_DIR } from '../src/config/env';
import { createTopic, listTopics } from '../src/ingest/kafka-client';
import { produceRaw } from '../src/simulator/kafka-producer';
import { publishRaw } from '../src/simulator/sensor-replay';
import { redriveDeadLetters } from '../src/ingest/redrive';
import { applySources, streamsOf } from '../src/sources/apply';
import { loadDeclaration, loadSources, type LoadedSource } from '../src/sources/load';
import { status } from '../src/workflows/messages';
import { queryWorkflow } from '../src/client/query';
import { testPool, uniqueSuffix } from './support/db';
import { waitFor } from './support/processes';
import { endStreams, sourceWorkerOptions, stopStream } from './support/sources';
import { recordHistory, withWorker } from './support/temporal';

const pool = testPool();
const shipped = loadSources(path.join(ROOT_DIR, 'sources'));
const dropTables: string[] = [];
const KAFKA = process.env.TEST_KAFKA !== '0';

afterAll(async () => {
  for (const t of dropTables) await pool.query(`DROP TABLE IF EXISTS ingest."${t}"`);
  await pool.end();
});

async function rows<T>(sql: string, params: unknown[] = []): Promise<T[]> {
  return (await pool.query(sql, params)).rows as T[];
}

/** A declared source from a shipped file's declaration with changes (a fresh name, topic, table). */
function variant(base: string, changes: Record<string, unknown>): LoadedSource {
  const d = structuredClone(shipped.get(base)!.declaration) as Record<string, unknown>;
  return loadDeclaration({ ...d, ...changes }, 'test');
}

/** Publishes probes until one lands: the consumer's persistent session then exists. */
async function waitForRow(table: string, device: string, publish: () => Promise<void>): Promise<void> {
  await waitFor(
    `the consumer of ingest.${table} to subscribe`,
    async () => {
      await publish();
      return (
        (
          await rows<{ n: string }>(`SELECT count(*) AS n FROM ingest."${table}" WHERE device_id = $1`, [device]).catch(() => [{ n: '0' }])
        )[0]!.n !== '0'
      );
    },
    120_000,
    1000,
  );
}

describe('declared sources on the real stack', () => {
  it(
    'MQTT: the Python sensor lands through sources/mqtt-sensor-data.yaml on sensors/data; extra fields kept, bad payloads dead-lettered with a reason',
    { timeout: 240_000 },
    async () => {
      const s = shipped.get('mqtt-sensor-data')!;
      const device = `sensor_${uniqueSuffix()}`;
      await withWorker(sourceWorkerOptions(pool, KAFKA), async ({ client, taskQueue }) => {
        await endStreams(client, [s]);
        const [r] = await applySources(new Map([[s.name, s]]), { client, pool, taskQueue });
        expect(r!.error).toBeUndefined();
        expect(r!.streams).toEqual([{ workflowId: 'ingest-mqtt-mqtt-sensor-data', action: 'start' }]);
        try {
          const t0 = 1764744000.123;
          let i = 0;
          await waitForRow('mqtt_sensor_data', `${device}-probe`, () =>
            publishRaw(mqttUrl(), [
              { topic: 'sensors/data', payload: JSON.stringify({ sensor_id: `${device}-probe`, timestamp: t0 + i++, temperature: 1 }) },
            ]),
          );
          // Exactly the bytes the Python script sends (json.dumps), every 5 s of event time.
          const good = [0, 5, 10].map(
            (k) => `{"sensor_id": "${device}", "timestamp": ${t0 + k}, "temperature": ${25.1 + k}, "humidity": 40.2}`,
          );
          const extra = `{"sensor_id": "${device}", "timestamp": ${t0 + 15}, "temperature": 25.3, "humidity": 40.1, "firmware": "2.4.1", "battery_v": 3.71}`;
          const bad = `{"sensor_id": "${device}", "timestamp": "soon", "temperature": 25.3}`;
          await publishRaw(
            mqttUrl(),
            [...good, extra, bad].map((payload) => ({ topic: 'sensors/data', payload })),
          );
          await waitFor(
            '4 rows',
            async () => (await rows(`SELECT 1 FROM ingest.mqtt_sensor_data WHERE device_id = $1`, [device])).length >= 4,
            60_000,
            250,
          );
          const landed = await rows<{
            event_time: Date;
            temperature: number;
            humidity: number;
            time_origin: string;
            attributes: unknown;
            batch_id: string;
          }>(
            `SELECT event_time, temperature, humidity, time_origin, attributes, batch_id FROM ingest.mqtt_sensor_data WHERE device_id = $1 ORDER BY event_time`,
            [device],
          );
          expect(landed.map((x) => [x.event_time.toISOString(), x.temperature, x.humidity, x.time_origin])).toEqual([
            ['2025-12-03T06:40:00.123Z', 25.1, 40.2, 'payload'],
            ['2025-12-03T06:40:05.123Z', 30.1, 40.2, 'payload'],
            ['2025-12-03T06:40:10.123Z', 35.1, 40.2, 'payload'],
            ['2025-12-03T06:40:15.123Z', 25.3, 40.1, 'payload'],
          ]);
          expect(landed[3]!.attributes).toEqual({ firmware: '2.4.1', battery_v: 3.71 });
          // Lineage: every row names its batch.
          const batches = await rows<{ source: string }>('SELECT source FROM ingest.batches WHERE id = ANY($1::bigint[])', [
            landed.map((x) => x.batch_id),
          ]);
          expect(new Set(batches.map((b) => b.source))).toEqual(new Set(['mqtt-sensor-data']));
          await waitFor(
            'the dead letter',
            async () =>
              (
                await rows(`SELECT 1 FROM ingest.dead_letters WHERE source = 'mqtt-sensor-data' AND convert_from(payload, 'UTF8') = $1`, [
                  bad,
                ])
              ).length > 0,
            30_000,
            250,
          );
          const [letter] = await rows<{ error_code: string; reason: string; kind: string; origin: { mqttTopic: string } }>(
            `SELECT error_code, reason, kind, origin FROM ingest.dead_letters WHERE source = 'mqtt-sensor-data' AND convert_from(payload, 'UTF8') = $1`,
            [bad],
          );
          expect(letter).toMatchObject({ error_code: 'schema', kind: 'source:mqtt-sensor-data', origin: { mqttTopic: 'sensors/data' } });
          expect(letter!.reason).toBe('event_time: "soon" is not a number of s since the epoch');
          const st = await queryWorkflow(client.workflow.getHandle('ingest-mqtt-mqtt-sensor-data'), status, []);
          expect(st.kind).toBe('source:mqtt-sensor-data');
          // Applying the same files again changes nothing.
          const [again] = await applySources(new Map([[s.name, s]]), { client, pool, taskQueue });
          expect(again!.table.action).toBe('unchanged');
          expect(again!.streams).toEqual([{ workflowId: 'ingest-mqtt-mqtt-sensor-data', action: 'unchanged' }]);
        } finally {
          await stopStream(client, 'ingest-mqtt-mqtt-sensor-data');
        }
      });
    },
  );

  it(
    'a measurement added to a running source adds a column and loses nothing; an incompatible change is refused with how to migrate',
    { timeout: 240_000 },
    async () => {
      const suffix = uniqueSuffix();
      const name = `evolve-${suffix}`;
      const table = `evolve_${suffix}`;
      dropTables.push(table);
      const topic = `test/${name}/{device}`;
      const v1 = variant('mqtt-sensor-data', { name, mqtt: { topic, qos: 1 }, device_id: { topic: 'device' } });
      const v2 = variant('mqtt-sensor-data', {
        name,
        mqtt: { topic, qos: 1 },
        device_id: { topic: 'device' },
        measurements: { ...v1.declaration.measurements, pressure: { type: 'double', unit: 'hPa', range: [300, 1100] } },
      });
      await withWorker(sourceWorkerOptions(pool, KAFKA), async ({ client, taskQueue }) => {
        const [r1] = await applySources(new Map([[name, v1]]), { client, pool, taskQueue });
        expect(r1!.table.action).toBe('create');
        const workflowId = `ingest-mqtt-${name}`;
        try {
          await waitForRow(table, 'probe', () =>
            publishRaw(mqttUrl(), [
              { topic: `test/${name}/probe`, payload: JSON.stringify({ timestamp: Date.now() / 1000, temperature: 1 }) },
            ]),
          );
          // 600 readings, each with a pressure, published while the source gains the measurement.
          const total = 600;
          const t0 = Date.parse('2026-12-01T00:00:00Z') / 1000;
          let sent = 0;
          const publishing = (async () => {
            for (let k = 0; k < total; k += 20) {
              const batch = Array.from({ length: 20 }, (_, j) => ({
                topic: `test/${name}/dev-1`,
                payload: JSON.stringify({ timestamp: t0 + k + j, temperature: 20, humidity: 50, pressure: 1000 + ((k + j) % 50) }),
              }));
              await publishRaw(mqttUrl(), batch);
              sent += batch.length;
              await new Promise((res) => setTimeout(res, 50));
            }
          })();
          await waitFor('a first third', () => sent >= total / 3, 60_000, 20);
          const [r2] = await applySources(new Map([[name, v2]]), { client, pool, taskQueue });
          expect(r2!.table).toMatchObject({ action: 'evolve', added: ['pressure'] });
          expect(r2!.streams).toEqual([{ workflowId, action: 'update' }]);
          await publishing;
          await waitFor(
            'every reading',
            async () =>
              Number((await rows<{ n: string }>(`SELECT count(*) AS n FROM ingest."${table}" WHERE device_id = 'dev-1'`))[0]!.n) >= total,
            90_000,
            500,
          );
          await new Promise((res) => setTimeout(res, 1500));
          const [c] = await rows<{ n: string; times: string; in_column: string; in_attributes: string }>(
            `SELECT count(*) AS n, count(DISTINCT event_time) AS times,
                    count(pressure) AS in_column, count(*) FILTER (WHERE attributes ? 'pressure') AS in_attributes
               FROM ingest."${table}" WHERE device_id = 'dev-1'`,
          );
          expect(Number(c!.n)).toBe(total);
          expect(Number(c!.times)).toBe(total);
          // Before the change a reading's pressure was kept in attributes, after it in its column.
          expect(Number(c!.in_column) + Number(c!.in_attributes)).toBe(total);
          expect(Number(c!.in_column)).toBeGreaterThan(0);
          expect(Number(c!.in_attributes)).toBeGreaterThan(0);
          expect((await rows(`SELECT 1 FROM ingest.dead_letters WHERE source = $1`, [name])).length).toBe(0);
          const st = await queryWorkflow(client.workflow.getHandle(workflowId), status, []);
          expect(st.sourceRevision).toBe(1);
          const ddl = await rows<{ name: string; statement: string }>(
            'SELECT name, statement FROM ops.schema_migrations WHERE source = $1 ORDER BY name',
            [name],
          );
          expect(ddl[0]!.statement).toMatch(new RegExp(`^CREATE TABLE ingest\\."${table}"`));
          expect(ddl.map((x) => x.statement)).toContain(`ALTER TABLE ingest."${table}" ADD COLUMN "pressure" double precision`);

          // A changed type and a dropped measurement are refused; nothing changes, the stream keeps its declaration.
          const bad = variant('mqtt-sensor-data', {
            name,
            mqtt: { topic, qos: 1 },
            device_id: { topic: 'device' },
            measurements: { temperature: { type: 'bigint' }, pressure: { type: 'double' } },
          });
          const [r3] = await applySources(new Map([[name, bad]]), { client, pool, taskQueue });
          expect(r3!.streams).toEqual([]);
          expect(r3!.error).toContain(`temperature: is double precision in ingest.${table}, declared bigint`);
          expect(r3!.error).toContain(`to migrate: declare a new measurement (e.g. temperature_v2`);
          expect(r3!.error).toContain(`humidity: is a column of ingest.${table} but no longer a measurement`);
          expect(r3!.error).toContain(`ALTER TABLE ingest."${table}" DROP COLUMN "humidity"`);
          expect((await queryWorkflow(client.workflow.getHandle(workflowId), status, [])).sourceRevision).toBe(1);
          // Stopped, the history (start with a declaration, applySource, restart, cancel) is kept for replay.
          const handle = client.workflow.getHandle(workflowId);
          await handle.cancel();
          await handle.result().catch(() => undefined);
          await recordHistory(client, workflowId, 'mqttIngest-declared-source-apply');
        } finally {
          await stopStream(client, workflowId);
        }
      });
    },
  );

  it(
    'dead-letters redrive maps letters through the source file as it is now, so fixing the file recovers them',
    { timeout: 180_000 },
    async () => {
      const suffix = uniqueSuffix();
      const name = `redrive-${suffix}`;
      const table = `redrive_${suffix.replace(/\W/g, '_')}`;
      dropTables.push(table);
      const topic = `test/${name}`;
      const strict = variant('mqtt-sensor-data', { name, table, mqtt: { topic, qos: 1 } });
      const m = strict.declaration.measurements;
      const fixed = variant('mqtt-sensor-data', {
        name,
        table,
        mqtt: { topic, qos: 1 },
        measurements: { ...m, temperature: { ...m.temperature, coerce: true } },
      });
      await withWorker(sourceWorkerOptions(pool, KAFKA), async ({ client, taskQueue }) => {
        await applySources(new Map([[name, strict]]), { client, pool, taskQueue });
        try {
          await waitForRow(table, 'probe', () =>
            publishRaw(mqttUrl(), [
              { topic, payload: JSON.stringify({ sensor_id: 'probe', timestamp: Date.now() / 1000, temperature: 1 }) },
            ]),
          );
          // A firmware that sends the temperature as a string: rejected while coerce is off.
          const payload = '{"sensor_id": "s-7", "timestamp": 1764744000.5, "temperature": "25.3", "humidity": 41}';
          await publishRaw(mqttUrl(), [{ topic, payload }]);
          await waitFor(
            'the dead letter',
            async () => (await rows(`SELECT 1 FROM ingest.dead_letters WHERE source = $1`, [name])).length > 0,
            30_000,
            250,
          );
          const still = await redriveDeadLetters(pool, { source: name, sources: new Map([[name, strict]]) });
          expect(still).toMatchObject({ examined: 1, redriven: 0, stillInvalidCount: 1 });
          // The file is fixed and applied; the letter goes through the source as it is now.
          await applySources(new Map([[name, fixed]]), { client, pool, taskQueue });
          const r = await redriveDeadLetters(pool, { source: name, sources: new Map([[name, fixed]]) });
          expect(r).toMatchObject({ examined: 1, redriven: 1, inserted: 1, unknownKind: [] });
          const got = await rows<{ temperature: number; humidity: number; batch_id: string }>(
            `SELECT temperature, humidity, batch_id FROM ingest."${table}" WHERE device_id = 's-7'`,
          );
          expect(got).toEqual([{ temperature: 25.3, humidity: 41, batch_id: String(r.batchIds[0]) }]);
          expect((await redriveDeadLetters(pool, { source: name, sources: new Map([[name, fixed]]) })).examined).toBe(0);
        } finally {
          await stopStream(client, `ingest-mqtt-${name}`);
        }
      });
    },
  );

  it('apply leaves a built-in stream under the same workflow ID alone and says so', { timeout: 120_000 }, async () => {
    const name = `conflict-${uniqueSuffix()}`;
    dropTables.push(name.replaceAll('-', '_'));
    const s = variant('mqtt-sensor-data', { name, mqtt: { topic: `test/${name}`, qos: 1 } });
    await withWorker(sourceWorkerOptions(pool, KAFKA), async ({ client, taskQueue }) => {
      const workflowId = `ingest-mqtt-${name}`;
      await client.workflow.start('mqttIngest', { workflowId, taskQueue, args: [{ source: name }] });
      try {
        const [r] = await applySources(new Map([[name, s]]), { client, pool, taskQueue });
        expect(r!.streams).toEqual([
          {
            workflowId,
            action: 'conflict',
            reason:
              'a stream of a built-in kind runs under this workflow ID; stop it (iot-pipelines streams stop) or give the source another name',
          },
        ]);
        expect((await queryWorkflow(client.workflow.getHandle(workflowId), status, [])).declaration).toBeUndefined();
      } finally {
        await stopStream(client, workflowId);
      }
    });
  });

  it('a CSV stream lands, one row per line', { timeout: 180_000 }, async () => {
    const suffix = uniqueSuffix();
    const name = `csv-${suffix}`;
    const table = `csv_${suffix}`;
    dropTables.push(table);
    const s = loadDeclaration(
      {
        name,
        mqtt: { topic: `test/${name}` },
        format: { type: 'csv' },
        device_id: { field: 'station' },
        event_time: { field: 'time', format: 'yyyy-MM-dd HH:mm', zone: 'Europe/Rome' },
        measurements: { co_mg_m3: { field: 'CO(GT)', unit: 'mg/m3' }, temperature: { field: 'T', unit: 'degC' } },
      },
      'test',
    );
    await withWorker(sourceWorkerOptions(pool, KAFKA), async ({ client, taskQueue }) => {
      await applySources(new Map([[name, s]]), { client, pool, taskQueue });
      try {
        await waitForRow(table, 'probe', () =>
          publishRaw(mqttUrl(), [{ topic: `test/${name}`, payload: `station,time,T\nprobe,2004-03-10 18:00,1\n` }]),
        );
        // UCI Air Quality, its first hours (data/uci-air-quality), as a station would send them: one CSV chunk per message.
        const chunks = [
          'station,time,CO(GT),T,RH\nrome-1,2004-03-10 18:00,2.6,13.6,48.9\nrome-1,2004-03-10 19:00,2,13.3,47.7\n',
          'station,time,CO(GT),T,RH\nrome-1,2004-03-10 20:00,2.2,11.9,54.0\nrome-1,2004-03-10 21:00,2.2,11.0,60.0\nrome-1,2004-03-10 22:00,1.6,11.2,59.6\n',
        ];
        await publishRaw(
          mqttUrl(),
          chunks.map((payload) => ({ topic: `test/${name}`, payload })),
        );
        await waitFor(
          '5 rows',
          async () => (await rows(`SELECT 1 FROM ingest."${table}" WHERE device_id = 'rome-1'`)).length >= 5,
          60_000,
          250,
        );
        const got = await rows<{ event_time: Date; co_mg_m3: number; temperature: number; attributes: { RH: string } }>(
          `SELECT event_time, co_mg_m3, temperature, attributes FROM ingest."${table}" WHERE device_id = 'rome-1' ORDER BY event_time`,
        );
        expect(got.map((g) => [g.event_time.toISOString(), g.co_mg_m3, g.temperature, g.attributes.RH])).toEqual([
          ['2004-03-10T17:00:00.000Z', 2.6, 13.6, '48.9'],
          ['2004-03-10T18:00:00.000Z', 2, 13.3, '47.7'],
          ['2004-03-10T19:00:00.000Z', 2.2, 11.9, '54.0'],
          ['2004-03-10T20:00:00.000Z', 2.2, 11, '60.0'],
          ['2004-03-10T21:00:00.000Z', 1.6, 11.2, '59.6'],
        ]);
      } finally {
        await stopStream(client, `ingest-mqtt-${name}`);
      }
    });
  });

  it.skipIf(!KAFKA)(
    'Kafka: the numeric-id producer (no timestamp) and the modem producer land through their shipped sources',
    { timeout: 240_000 },
    async () => {
      const sensor = shipped.get('kafka-sensor-data')!;
      const modem = shipped.get('modem-evg')!;
      const suffix = uniqueSuffix();
      for (const t of ['sensor_data_topic', 'modem-events']) await createTopic(kafkaBrokers(), t, 3).catch(() => undefined);
      await withWorker(sourceWorkerOptions(pool, KAFKA), async ({ client, taskQueue }) => {
        await endStreams(client, [sensor, modem]);
        const results = await applySources(
          new Map([
            [sensor.name, sensor],
            [modem.name, modem],
          ]),
          { client, pool, taskQueue },
        );
        expect(results.map((r) => r.error)).toEqual([undefined, undefined]);
        try {
          const id = Number(suffix.replace(/\D/g, '').slice(-8)) || 1;
          const before = Date.now();
          // The bytes of the original producer: json.dumps({"sensor_id": 1, "temperature": 25.4}).
          await produceRaw(kafkaBrokers(), 'sensor_data_topic', [
            { key: null, value: `{"sensor_id": ${id}, "temperature": 25.4}` },
            { key: null, value: `{"sensor_id": ${id}, "temperature": 25.6}` },
          ]);
          const after = Date.now();
          const device = `dvc${suffix}`;
          await produceRaw(kafkaBrokers(), 'modem-events', [
            {
              key: device,
              value: `{"model": "EVG2000", "deviceid": "${device}", "interface": "eth4.1", "interfacestatus": "connected", "cpuusage": "73", "memoryusage": "1234", "event_time": "2026-12-03 06:40:00"}`,
            },
            {
              key: device,
              value: `{"model": "EVG2000", "deviceid": "${device}", "cpuusage": "high", "event_time": "2026-12-03 06:41:00"}`,
            },
          ]);
          await waitFor(
            'both sensor records',
            async () => (await rows(`SELECT 1 FROM ingest.kafka_sensor_data WHERE device_id = $1`, [String(id)])).length >= 2,
            90_000,
            250,
          );
          const s = await rows<{ event_time: Date; temperature: number; time_origin: string; record_key: string }>(
            `SELECT event_time, temperature, time_origin, record_key FROM ingest.kafka_sensor_data WHERE device_id = $1 ORDER BY temperature`,
            [String(id)],
          );
          expect(s.map((x) => [x.temperature, x.time_origin])).toEqual([
            [25.4, 'arrival'],
            [25.6, 'arrival'],
          ]);
          for (const x of s) {
            // The Kafka record timestamp (set by the producer when it sent the record).
            expect(x.event_time.getTime()).toBeGreaterThanOrEqual(before - 1000);
            expect(x.event_time.getTime()).toBeLessThanOrEqual(after + 1000);
            expect(x.record_key).toMatch(/^sensor_data_topic\/\d+\/\d+$/);
          }
          await waitFor(
            'the modem row',
            async () => (await rows(`SELECT 1 FROM ingest.modem_evg WHERE device_id = $1`, [device])).length >= 1,
            90_000,
            250,
          );
          const [m] = await rows<{
            event_time: Date;
            cpu_usage: number;
            memory_usage_mb: number;
            interface_status: string;
            out_of_range: string[] | null;
          }>(`SELECT event_time, cpu_usage, memory_usage_mb, interface_status, out_of_range FROM ingest.modem_evg WHERE device_id = $1`, [
            device,
          ]);
          expect(m).toEqual({
            event_time: new Date('2026-12-03T05:40:00Z'),
            cpu_usage: 73,
            memory_usage_mb: 1234,
            interface_status: 'connected',
            out_of_range: null,
          });
          await waitFor(
            'the modem dead letter',
            async () =>
              (await rows(`SELECT 1 FROM ingest.dead_letters WHERE source = 'modem-evg' AND origin->>'key' = $1`, [device])).length > 0,
            30_000,
            250,
          );
          const [letter] = await rows<{ reason: string }>(
            `SELECT reason FROM ingest.dead_letters WHERE source = 'modem-evg' AND origin->>'key' = $1`,
            [device],
          );
          expect(letter!.reason).toBe('cpu_usage: expected a number, received the string "high"');
        } finally {
          for (const w of [...streamsOf(sensor), ...streamsOf(modem)]) await stopStream(client, w.workflowId);
        }
      });
    },
  );

  it.skipIf(!KAFKA)('Kafka: a topic_pattern source gets one stream per matching topic', { timeout: 180_000 }, async () => {
    const suffix = uniqueSuffix().replace(/\W/g, '');
    const name = `pattern-${suffix}`;
    dropTables.push(`pattern_${suffix}`);
    const topics = [`pat-${suffix}-east`, `pat-${suffix}-west`];
    for (const t of [...topics, `other-${suffix}`]) await createTopic(kafkaBrokers(), t, 2);
    const s = loadDeclaration(
      {
        name,
        kafka: { topic_pattern: `pat-${suffix}-(east|west)`, group: `g-${suffix}` },
        device_id: { key: true },
        event_time: { field: 'ts', format: 'epoch_ms' },
        measurements: { temperature: {} },
      },
      'test',
    );
    const listKafkaTopics = () => listTopics(kafkaBrokers());
    await withWorker(sourceWorkerOptions(pool, KAFKA), async ({ client, taskQueue }) => {
      const [r] = await applySources(new Map([[name, s]]), { client, pool, taskQueue, listKafkaTopics });
      expect(r!.streams).toEqual(topics.map((t) => ({ workflowId: `ingest-kafka-g-${suffix}-${t}`, action: 'start' })));
      try {
        const t0 = Date.parse('2026-12-01T00:00:00Z');
        for (const [i, t] of topics.entries()) {
          await produceRaw(
            kafkaBrokers(),
            t,
            Array.from({ length: 50 }, (_, k) => ({ key: `dev-${i}`, value: JSON.stringify({ ts: t0 + k * 1000, temperature: 20 + i }) })),
          );
        }
        await waitFor(
          'rows from both topics',
          async () => Number((await rows<{ n: string }>(`SELECT count(*) AS n FROM ingest."pattern_${suffix}"`))[0]!.n) >= 100,
          90_000,
          250,
        );
        const got = await rows<{ device_id: string; n: string; t: number }>(
          `SELECT device_id, count(*) AS n, avg(temperature) AS t FROM ingest."pattern_${suffix}" GROUP BY 1 ORDER BY 1`,
        );
        expect(got).toEqual([
          { device_id: 'dev-0', n: '50', t: 20 },
          { device_id: 'dev-1', n: '50', t: 21 },
        ]);
      } finally {
        for (const t of topics) await stopStream(client, `ingest-kafka-g-${suffix}-${t}`);
      }
    });
  });

  it('a dbt model selects from a declared source with {{ source() }} in models build', { timeout: 120_000 }, async () => {
    const suffix = uniqueSuffix().replace(/\W/g, '_');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'byo-project-'));
    const name = `byo-${suffix}`.replaceAll('_', '-');
    const table = name.replaceAll('-', '_');
    dropTables.push(table);
    fs.mkdirSync(path.join(dir, 'models'));
    fs.mkdirSync(path.join(dir, 'sources'));
    fs.writeFileSync(path.join(dir, 'dbt_project.yml'), 'name: byo\nversion: "1.0"\nconfig-version: 2\nmodel-paths: [models]\n');
    fs.writeFileSync(
      path.join(dir, 'sources', `${name}.yaml`),
      `name: ${name}\nmqtt: { topic: "test/${name}/{device}" }\ndevice_id: { topic: device }\nevent_time: { field: ts }\nmeasurements:\n  temperature: { unit: degC }\n`,
    );
    const model = `byo_avg_${suffix}`;
    fs.writeFileSync(
      path.join(dir, 'models', `${model}.sql`),
      `select device_id, count(*) as readings, avg(temperature) as avg_temperature\nfrom {{ source('devices', '${name}') }}\ngroup by device_id\n`,
    );
    // The table, as `sources apply --tables-only` creates it, with two rows.
    const s = loadSources(path.join(dir, 'sources')).get(name)!;
    const [r] = await applySources(new Map([[name, s]]), {
      client: undefined as unknown as Client,
      pool,
      taskQueue: 'unused',
      tablesOnly: true,
    });
    expect(r!.table.action).toBe('create');
    await pool.query(
      `INSERT INTO ingest."${table}" (source, device_id, event_time, time_origin, temperature, batch_id)
       VALUES ($1, 'd1', now(), 'payload', 20, 0), ($1, 'd1', now() - interval '1 minute', 'payload', 22, 0)`,
      [name],
    );
    const program = new Command().exitOverride();
    registerModelCommands(program);
    const out: string[] = [];
    const spy = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.map(String).join(' ')));
    try {
      await program.parseAsync(['node', 'cli', 'models', 'build', '--project-dir', dir, '--target-path', path.join(dir, 'target')]);
    } finally {
      spy.mockRestore();
    }
    expect(process.exitCode ?? 0).toBe(0);
    const [row] = await rows<{ readings: string; avg_temperature: number }>(`SELECT readings, avg_temperature FROM analytics."${model}"`);
    expect(row).toEqual({ readings: '2', avg_temperature: 21 });
    await pool.query(`DROP VIEW IF EXISTS analytics."${model}"`);
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'target', 'manifest.json'), 'utf8')) as {
      sources: Record<string, { relation_name?: string }>;
    };
    expect(Object.keys(manifest.sources)).toContain(`source.byo.devices.${name}`);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('sources test and validate run from the compiled CLI and write nothing', () => {
    const cli = path.join(ROOT_DIR, 'dist', 'cli.js');
    const payload =
      '{"model": "EVG2000", "deviceid": "dvc1234", "interface": "eth4.1", "interfacestatus": "connected", "cpuusage": "73", "memoryusage": "1234", "event_time": "2026-12-03 06:40:00"}';
    const ok = spawnSync(process.execPath, [cli, 'sources', 'test', 'modem-evg', '-'], { input: payload, encoding: 'utf8' });
    expect(ok.status).toBe(0);
    const row = JSON.parse(ok.stdout.slice(ok.stdout.indexOf('{'))) as Record<string, unknown>;
    expect(row).toMatchObject({ device_id: 'dvc1234', event_time: '2026-12-03T05:40:00.000Z', cpu_usage: 73, memory_usage_mb: 1234 });
    const bad = spawnSync(process.execPath, [cli, 'sources', 'test', 'mqtt-sensor-data', '-'], {
      input: '{"sensor_id": "s", "temperature": "hot"}',
      encoding: 'utf8',
    });
    expect(bad.status).toBe(1);
    expect(bad.stdout.trim()).toBe(
      'dead letter schema: temperature: expected a number, received the string "hot" (set coerce: true to accept numeric strings)',
    );
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bad-sources-'));
    fs.writeFileSync(
      path.join(dir, 'x.yaml'),
      'name: x\nmqtt: { topic: a }\ndevice_id: { field: id }\nmeasurements:\n  t: { type: float }\n',
    );
    const invalid = spawnSync(process.execPath, [cli, 'sources', 'validate'], {
      encoding: 'utf8',
      env: { ...process.env, SOURCES_DIR: dir },
    });
    expect(invalid.status).toBe(1);
    expect(invalid.stderr).toMatch(/x\.yaml:5:\d+: measurements\.t\.type: Invalid option/);
    expect(execFileSync(process.execPath, [cli, 'sources', 'validate'], { encoding: 'utf8' })).toMatch(/^\d+ source files valid/);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
