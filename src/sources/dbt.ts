/**
 * The declared sources as the dbt project sees them: one dbt source `devices` (schema `ingest`) with a
 * table per source file, named like the source (`{{ source('devices', 'mqtt-sensor-data') }}` →
 * `"ingest"."mqtt_sensor_data"`), its columns described with their units. Generated from the files at
 * parse time, so a user's model selects from a new device type with no other change. Reads only the
 * declarations (YAML + schema), never compiles mappings; a file that does not validate is left out
 * (`sources validate` names its problems).
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { RESERVED_COLUMNS, sourceDeclarationSchema, sourceTable } from './declaration';

/** The dbt source name of the declared sources. */
export const DBT_SOURCE_NAME = 'devices';

/** A declared source as a dbt source table. */
export interface DbtSourceTable {
  name: string;
  identifier: string;
  description: string;
  columns: Record<string, { name: string; description: string }>;
  file: string;
}

const FIXED: Record<(typeof RESERVED_COLUMNS)[number], string> = {
  source: 'Source name (the source file).',
  device_id: 'Device identifier.',
  event_time: 'Event time (timestamptz), from the payload or the arrival time (see time_origin).',
  time_origin: "'payload' or 'arrival' (broker receipt / Kafka record time).",
  record_key: "Empty for payload times; the message's transport identity for arrival times.",
  attributes: 'Undeclared payload fields and named topic segments (jsonb).',
  out_of_range: 'Measurements outside their declared range, kept as received.',
  batch_id: 'ingest.batches id of the batch that wrote the row (lineage).',
  received_at: 'When the row was written.',
};

/** The tables of the source files in `dir` (none when it does not exist). */
export function dbtSourceTables(dir: string, root: string): DbtSourceTable[] {
  if (!fs.existsSync(dir)) return [];
  const out: DbtSourceTable[] = [];
  for (const f of fs
    .readdirSync(dir)
    .filter((x) => /\.ya?ml$/.test(x))
    .sort()) {
    let d;
    try {
      const parsed = sourceDeclarationSchema.safeParse(parse(fs.readFileSync(path.join(dir, f), 'utf8')));
      if (!parsed.success) continue;
      d = parsed.data;
    } catch {
      continue;
    }
    const columns: DbtSourceTable['columns'] = {};
    for (const [name, description] of Object.entries(FIXED)) columns[name] = { name, description };
    for (const [name, m] of Object.entries(d.measurements)) {
      columns[name] = { name, description: [m.description, m.unit && `unit: ${m.unit}`, m.type].filter(Boolean).join('; ') };
    }
    out.push({
      name: d.name,
      identifier: sourceTable(d),
      description: d.description ?? `Declared source ${d.name}`,
      columns,
      file: path.relative(root, path.join(dir, f)).split(path.sep).join('/'),
    });
  }
  return out;
}
