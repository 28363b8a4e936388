/** Helpers for tests that ingest over MQTT. */
import { mqttUrl } from '../../src/config/env';
import type { Pool } from '../../src/db/pool';
import { publishRaw } from '../../src/simulator/sensor-replay';
import { waitFor } from './processes';

/** Rows of `source` (optionally one device) in ingest.sensor_readings. */
export async function countReadings(pool: Pool, source: string, deviceId?: string): Promise<number> {
  const r = await pool.query<{ n: string }>(
    'SELECT count(*) AS n FROM ingest.sensor_readings WHERE source = $1 AND ($2::text IS NULL OR device_id = $2)',
    [source, deviceId ?? null],
  );
  return Number(r.rows[0]?.n);
}

/** Publishes a valid probe reading until it lands: the consumer's persistent session then exists. */
export async function waitForSubscription(pool: Pool, source: string): Promise<void> {
  let i = 0;
  await waitFor(
    'the consumer to subscribe',
    async () => {
      const ts = new Date(Date.UTC(2000, 0, 1, 0, i++)).toISOString();
      await publishRaw(mqttUrl(), [
        { topic: `sensors/${source}/probe`, payload: JSON.stringify({ device_id: 'probe', ts, temperature: 0 }) },
      ]);
      return (await countReadings(pool, source, 'probe')) > 0;
    },
    120_000,
    1000,
  );
}
