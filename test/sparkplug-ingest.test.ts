/**
 * Sparkplug B end to end on the real stack (Mosquitto, PostgreSQL, the Temporal dev server), with a
 * device written by another project: Eclipse Tahu's Node.js edge node client (`sparkplug-client` 3.2,
 * over MQTT.js 4) publishes births, data by alias, a forced sequence gap, and its death certificate,
 * into a stream of the shipped `sources/sparkplug-plant.yaml` (renamed per run).
 *
 * Checked: the host's retained STATE; every metric in its column with its birth datatype (and an
 * undeclared one kept by name in attributes); the gap's messages dead-lettered with the reason while a
 * rebirth request (NCMD `Node Control/Rebirth`) reaches the client, which is born again; the alias
 * table survives a restart of the stream (from `ingest.source_state`); NDEATH takes the device offline
 * in its entity workflow, the next birth online.
 */
import path from 'node:path';
import mqtt from 'mqtt';
import { Client, Connection } from '@temporalio/client';
import * as sparkplug from 'sparkplug-client';
import { afterAll, describe, expect, it } from 'vitest';
import { createDeviceActivities } from '../src/activities/devices';
import { createMqttIngestActivities } from '../src/activities/mqtt-ingest';
import { loadSettings, mqttUrl, ROOT_DIR } from '../src/config/env';
import { DeviceWorkflowSink } from '../src/devices/sink';
import { deviceWorkflowId, type DeviceStateView } from '../src/devices/state';
import { loadQualityRules } from '../src/quality/rules';
import { applySources } from '../src/sources/apply';
import { loadDeclaration, loadSources } from '../src/sources/load';
import { WORKER_TUNING, WORKFLOWS_PATH } from '../src/workers/worker';
import { testPool, uniqueSuffix } from './support/db';
import { waitFor } from './support/processes';
import { endStreams, stopStream } from './support/sources';
import { withWorker } from './support/temporal';

const pool = testPool();
const dropTables: string[] = [];
afterAll(async () => {
  for (const t of dropTables) await pool.query(`DROP TABLE IF EXISTS ingest."${t}"`);
  await pool.end();
});

interface TahuPayload {
  timestamp?: number;
  metrics: Array<{ name?: string; alias?: number; type: string; value: unknown; timestamp?: number; isHistorical?: boolean }>;
}
interface TahuClient {
  seq: number;
  on(event: 'birth' | 'connect' | 'close', fn: () => void): void;
  on(event: 'ncmd', fn: (p: TahuPayload) => void): void;
  publishNodeBirth(p: TahuPayload): void;
  publishDeviceBirth(device: string, p: TahuPayload): void;
  publishDeviceData(device: string, p: TahuPayload): void;
  publishNodeData(p: TahuPayload): void;
  stop(): void;
}
const newClient = (config: Record<string, unknown>): TahuClient =>
  (sparkplug as unknown as { newClient(c: Record<string, unknown>): TahuClient }).newClient(config);

/** The edge node's clock: an hour ago, on the second (payload timestamps are what the rows carry). */
const T0 = Math.floor(Date.now() / 1000) * 1000 - 3_600_000;
const DEVICE = 'Pump-1';
const EDGE = 'Edge-1';

/** An edge node with one pump, as an application of Tahu's client writes it: births on `birth`, and again on a rebirth request. */
function edgeNode(groupId: string, log: string[]): Promise<TahuClient> {
  const c = newClient({
    serverUrl: mqttUrl(),
    username: '',
    password: '',
    groupId,
    edgeNode: EDGE,
    clientId: `tahu-${groupId}-${uniqueSuffix()}`,
    publishDeath: true,
    keepalive: 5,
  });
  const births = () => {
    c.publishNodeBirth({
      timestamp: T0,
      metrics: [
        { name: 'Node Control/Rebirth', type: 'Boolean', value: false },
        { name: 'Supply/Voltage', alias: 1, type: 'Float', value: 230.5 },
        { name: 'Properties/Firmware', alias: 2, type: 'String', value: '4.2.1' },
      ],
    });
    c.publishDeviceBirth(DEVICE, {
      timestamp: T0 + 1,
      metrics: [
        { name: 'Inputs/Temperature', alias: 10, type: 'Double', value: 21.5 },
        { name: 'Inputs/Running', alias: 11, type: 'Boolean', value: true },
        { name: 'Counters/Starts', alias: 12, type: 'UInt32', value: 7 },
        { name: 'Info/Label', alias: 13, type: 'String', value: 'Feed pump' },
        { name: 'Info/Serviced', alias: 14, type: 'DateTime', value: Date.UTC(2026, 10, 30) },
        {
          name: 'Inputs/Vibration',
          alias: 15,
          type: 'DataSet',
          value: {
            numOfColumns: 2,
            columns: ['hz', 'mm_s'],
            types: ['Float', 'Float'],
            rows: [
              [10, 0.5],
              [20, 1.25],
            ],
          },
        },
      ],
    });
    log.push('born');
  };
  return new Promise((resolve) => {
    c.on('birth', () => {
      births();
      resolve(c);
    });
    c.on('ncmd', (p) => {
      const rebirth = p.metrics.find((m) => m.name === 'Node Control/Rebirth');
      if (rebirth?.value === true) {
        log.push('rebirth requested');
        births();
      }
    });
  });
}

describe('Sparkplug B host on the real stack', () => {
  it(
    "Eclipse Tahu's edge node client: births, data by alias, a sequence gap → dead letters and a rebirth, restart, death → offline, birth → online",
    { timeout: 240_000 },
    async () => {
      const suffix = uniqueSuffix();
      const groupId = `Plant-${suffix}`;
      const hostId = `host-${suffix}`;
      const shipped = loadSources(path.join(ROOT_DIR, 'sources')).get('sparkplug-plant')!;
      const name = `sparkplug-${suffix}`;
      const table = name.replaceAll('-', '_');
      dropTables.push(table);
      const declared = loadDeclaration(
        {
          ...structuredClone(shipped.declaration),
          name,
          mqtt: { topic: `spBv1.0/${groupId}/#` },
          format: { type: 'sparkplug_b', host_id: hostId },
        },
        'test',
      );
      const settings = loadSettings();
      const connection = await Connection.connect({ address: settings.temporalAddress });
      const sinkClient = new Client({ connection, namespace: settings.temporalNamespace });
      const taskQueue = `test-sparkplug-${suffix}`;
      const sink = new DeviceWorkflowSink({ client: sinkClient, taskQueue, rules: loadQualityRules() });
      const watcher = await mqtt.connectAsync(mqttUrl(), { clientId: `test-sparkplug-watch-${suffix}` });
      const seen: Array<{ topic: string; payload: Buffer }> = [];
      watcher.on('message', (topic, payload) => seen.push({ topic, payload }));
      await watcher.subscribeAsync([`spBv1.0/STATE/${hostId}`, `spBv1.0/${groupId}/NCMD/#`], { qos: 1 });
      const log: string[] = [];
      let edge: TahuClient | undefined;
      try {
        await withWorker(
          {
            workflowsPath: WORKFLOWS_PATH,
            activities: {
              ...createMqttIngestActivities({ pool, mqttUrl: mqttUrl(), deviceSink: sink }),
              ...createDeviceActivities({ pool, notifier: { notify: () => Promise.resolve() } }),
            },
            taskQueue,
            ...WORKER_TUNING,
          },
          async ({ client }) => {
            await endStreams(client, [declared]);
            const [r] = await applySources(new Map([[name, declared]]), { client, pool, taskQueue });
            expect(r!.error).toBeUndefined();
            const workflowId = r!.streams[0]!.workflowId;
            const rows = async () =>
              (
                await pool.query<{
                  device_id: string;
                  event_time: Date;
                  message_type: string;
                  seq: string;
                  supply_voltage: number | null;
                  temperature: number | null;
                  running: boolean | null;
                  starts: string | null;
                  label: string | null;
                  serviced_at: Date | null;
                  vibration: unknown;
                  attributes: Record<string, unknown> | null;
                }>(`SELECT * FROM ingest."${table}" ORDER BY event_time, device_id`)
              ).rows;
            const letters = async () =>
              (
                await pool.query<{ error_code: string; reason: string; origin: { mqttTopic: string } }>(
                  'SELECT error_code, reason, origin FROM ingest.dead_letters WHERE source = $1 ORDER BY id',
                  [name],
                )
              ).rows;

            // The host is present before any edge node is: its retained STATE (Sparkplug 3.0 §5.2).
            await waitFor('the host STATE online', () => seen.some((m) => m.topic === `spBv1.0/STATE/${hostId}`), 60_000);
            const state = JSON.parse(seen.find((m) => m.topic === `spBv1.0/STATE/${hostId}`)!.payload.toString()) as {
              online: boolean;
              timestamp: number;
            };
            expect(state.online).toBe(true);

            // Births, then data by alias only (no names: the host resolves them from the births).
            edge = await edgeNode(groupId, log);
            edge.publishDeviceData(DEVICE, {
              timestamp: T0 + 1000,
              metrics: [
                { alias: 10, type: 'Double', value: 22.25 },
                { alias: 12, type: 'UInt32', value: 8 },
              ],
            });
            edge.publishNodeData({ timestamp: T0 + 1500, metrics: [{ alias: 1, type: 'Float', value: 229.5 }] });
            await waitFor('births and data', async () => (await rows()).length === 4, 60_000);
            let got = await rows();
            expect(got.map((x) => [x.device_id, x.event_time.getTime() - T0, x.message_type, Number(x.seq)])).toEqual([
              [EDGE, 0, 'NBIRTH', 0],
              [`${EDGE}/${DEVICE}`, 1, 'DBIRTH', 1],
              [`${EDGE}/${DEVICE}`, 1000, 'DDATA', 2],
              [EDGE, 1500, 'NDATA', 3],
            ]);
            // Every metric with its birth datatype: Float, Double, Boolean, UInt32, String, DateTime, DataSet.
            expect(got[0]).toMatchObject({ supply_voltage: 230.5, temperature: null });
            expect(got[0]!.attributes).toEqual({ 'Properties/Firmware': '4.2.1' });
            expect(got[1]).toMatchObject({
              temperature: 21.5,
              running: true,
              starts: '7',
              label: 'Feed pump',
              vibration: {
                columns: ['hz', 'mm_s'],
                types: ['Float', 'Float'],
                rows: [
                  [10, 0.5],
                  [20, 1.25],
                ],
              },
            });
            expect(got[1]!.serviced_at!.toISOString()).toBe('2026-11-30T00:00:00.000Z');
            expect(got[2]).toMatchObject({ temperature: 22.25, starts: '8', running: null });
            expect(got[3]).toMatchObject({ supply_voltage: 229.5 });
            const device = client.workflow.getHandle(deviceWorkflowId(name, `${EDGE}/${DEVICE}`));
            const deviceState = () => device.query<DeviceStateView>('deviceState');
            await waitFor('the pump online', async () => (await deviceState().catch(() => undefined))?.connection?.online === true, 60_000);

            // A forced sequence gap: seq 4 is never sent (as if lost). The next two messages are refused.
            edge.seq++;
            edge.publishDeviceData(DEVICE, { timestamp: T0 + 2000, metrics: [{ alias: 10, type: 'Double', value: 99 }] });
            edge.publishDeviceData(DEVICE, { timestamp: T0 + 2001, metrics: [{ alias: 10, type: 'Double', value: 98 }] });
            await waitFor(
              'the rebirth request to reach the client and the births again',
              () => log.filter((l) => l === 'born').length === 2,
              60_000,
            );
            expect(log).toEqual(['born', 'rebirth requested', 'born']);
            const ncmd = seen.filter((m) => m.topic === `spBv1.0/${groupId}/NCMD/${EDGE}`);
            expect(ncmd.length).toBeGreaterThanOrEqual(1);
            await waitFor('the gap dead-lettered', async () => (await letters()).length >= 1, 30_000);
            // After the rebirth, data by alias lands again.
            edge.publishDeviceData(DEVICE, { timestamp: T0 + 3000, metrics: [{ alias: 10, type: 'Double', value: 23 }] });
            await waitFor('data after the rebirth', async () => (await rows()).some((x) => x.event_time.getTime() === T0 + 3000), 60_000);
            got = await rows();
            expect(got.some((x) => x.temperature === 99 || x.temperature === 98)).toBe(false);
            const dl = await letters();
            expect(dl[0]!.error_code).toBe('sparkplug_session');
            expect(dl[0]!.reason).toContain(
              `sequence gap from edge node ${groupId}/${EDGE}: expected seq 4, received 5 on DDATA of ${DEVICE}`,
            );
            expect(dl[0]!.reason).toContain('rebirth requested');
            expect(dl[0]!.origin.mqttTopic).toBe(`spBv1.0/${groupId}/DDATA/${EDGE}/${DEVICE}`);
            // The message after the gap was refused too (awaiting the rebirth), unless it arrived after it.
            expect(dl.every((l) => l.error_code === 'sparkplug_session')).toBe(true);

            // The stream restarts (a new consumer): the alias table comes back from ingest.source_state.
            const stored = await pool.query<{ key: string; state: { online: boolean; nextSeq: number } }>(
              'SELECT key, state FROM ingest.source_state WHERE source = $1',
              [name],
            );
            expect(stored.rows.map((x) => [x.key, x.state.online])).toEqual([[`${groupId}/${EDGE}`, true]]);
            await stopStream(client, workflowId);
            const [again] = await applySources(new Map([[name, declared]]), { client, pool, taskQueue });
            expect(again!.error).toBeUndefined();
            await waitFor(
              'the host STATE online again',
              () =>
                seen.filter(
                  (m) => m.topic === `spBv1.0/STATE/${hostId}` && (JSON.parse(m.payload.toString()) as { online: boolean }).online,
                ).length >= 2,
              60_000,
            );
            edge.publishDeviceData(DEVICE, { timestamp: T0 + 4000, metrics: [{ alias: 11, type: 'Boolean', value: false }] });
            await waitFor(
              'data by alias after the restart',
              async () => (await rows()).some((x) => x.event_time.getTime() === T0 + 4000),
              60_000,
            );
            expect((await rows()).find((x) => x.event_time.getTime() === T0 + 4000)).toMatchObject({ running: false });

            // Death certificate (bdSeq of the birth): offline; a new session's birth: online.
            edge.stop();
            edge = undefined;
            await waitFor('the pump offline', async () => (await deviceState()).connection?.online === false, 60_000);
            const off = await deviceState();
            expect(off.status).toBe('offline');
            expect(off.connection?.cause).toBe('NDEATH');
            edge = await edgeNode(groupId, log);
            await waitFor('the pump online again', async () => (await deviceState()).connection?.online === true, 60_000);
            expect((await deviceState()).connection?.cause).toBe('DBIRTH');
            expect((await letters()).length).toBe(dl.length);
            await stopStream(client, workflowId);
          },
        );
      } finally {
        edge?.stop();
        await watcher.endAsync();
        await connection.close();
      }
    },
  );
});
