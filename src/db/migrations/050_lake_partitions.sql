-- Partitions of the Parquet data lake (src/lake/export.ts), one row per partition prefix:
--   <source>/dt=YYYY-MM-DD/hour=HH          raw events of a source (one file per raw table it has rows in)
--   errors/<source>/dt=YYYY-MM-DD/hour=HH   dead letters of a source
-- A row is written BEFORE its partition, so every partition in the lake is listed here. A re-export of
-- an hour replaces the partitions it produces and removes (files and row) those listed for the hour,
-- within its dataset/source filters, that it no longer produces.
-- Supersedes ingest.lake_exports (one row per dataset and hour), which is kept but no longer written.
CREATE TABLE IF NOT EXISTS ingest.lake_partitions (
  prefix       text        PRIMARY KEY,            -- relative to the lake root, e.g. plant-1/dt=2024-05-01/hour=13
  datasets     text[]      NOT NULL,               -- lake datasets in the partition: raw tables (sensor_readings,
                                                   -- modem_telemetry, gps_fixes) or {errors}
  source       text        NOT NULL,               -- source name (not encoded)
  hour         timestamptz NOT NULL,               -- start of the arrival hour (UTC)
  rows         bigint      NOT NULL,
  files        jsonb       NOT NULL,               -- [{"file": "<prefix>/part-0.parquet", "dataset": "...", "rows": n}]
  exported_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS lake_partitions_hour_idx ON ingest.lake_partitions (hour, source);
