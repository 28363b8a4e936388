-- The three built-in kinds become shipped source files (sources/sensor.yaml, modem.yaml, gps.yaml) that
-- keep their tables and stored rows: each table gains the columns every source table has (adding a
-- column with a constant default only touches the catalog, so no row is rewritten) and the ownership
-- comment `sources apply` checks. Their primary keys stay; the source files declare them as `key:`.
ALTER TABLE ingest.sensor_readings
  ADD COLUMN IF NOT EXISTS time_origin text NOT NULL DEFAULT 'payload',
  ADD COLUMN IF NOT EXISTS record_key text NOT NULL DEFAULT '',
  ADD COLUMN IF NOT EXISTS attributes jsonb,
  ADD COLUMN IF NOT EXISTS out_of_range text[];
COMMENT ON TABLE ingest.sensor_readings IS 'iot-pipelines source sensor';

ALTER TABLE ingest.modem_telemetry
  ADD COLUMN IF NOT EXISTS time_origin text NOT NULL DEFAULT 'payload',
  ADD COLUMN IF NOT EXISTS record_key text NOT NULL DEFAULT '',
  ADD COLUMN IF NOT EXISTS attributes jsonb,
  ADD COLUMN IF NOT EXISTS out_of_range text[];
COMMENT ON TABLE ingest.modem_telemetry IS 'iot-pipelines source modem';

ALTER TABLE ingest.gps_fixes
  ADD COLUMN IF NOT EXISTS time_origin text NOT NULL DEFAULT 'payload',
  ADD COLUMN IF NOT EXISTS record_key text NOT NULL DEFAULT '',
  ADD COLUMN IF NOT EXISTS attributes jsonb,
  ADD COLUMN IF NOT EXISTS out_of_range text[];
COMMENT ON TABLE ingest.gps_fixes IS 'iot-pipelines source gps';

-- Dead letters of the built-in kinds are re-driven through their source files from now on.
UPDATE ingest.dead_letters SET kind = 'source:' || kind WHERE kind IN ('sensor', 'modem', 'gps');
