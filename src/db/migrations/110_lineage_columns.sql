-- Lineage on derived rows: the workflow run that wrote a row and the ingest batches (ingest.batches.id)
-- it was built from, so "which messages made this prediction" is one query (README, "Which messages made
-- this prediction"). The model tables get the same columns from their SQL (models/marts/*.sql).
-- Rows written before this migration keep NULL: their lineage was not recorded.
ALTER TABLE ml.occupancy_predictions
  ADD COLUMN IF NOT EXISTS workflow_run_id  text,      -- the sensor pipeline's Temporal workflow run id
  ADD COLUMN IF NOT EXISTS ingest_batch_ids bigint[];  -- batches of the readings of the window predicted
CREATE INDEX IF NOT EXISTS occupancy_predictions_batches_idx ON ml.occupancy_predictions USING gin (ingest_batch_ids);

ALTER TABLE quality.alerts
  ADD COLUMN IF NOT EXISTS workflow_run_id  text,      -- the quality-checks run (or the device workflow run) that raised or last refreshed it
  ADD COLUMN IF NOT EXISTS ingest_batch_ids bigint[];  -- batches of the device's rows in the window checked; {} for device-level alerts
CREATE INDEX IF NOT EXISTS alerts_batches_idx ON quality.alerts USING gin (ingest_batch_ids);

-- Event stats come from the events API, not from ingest: the run id is their lineage.
ALTER TABLE analytics.event_stats
  ADD COLUMN IF NOT EXISTS workflow_run_id text;       -- the eventsStats workflow run that wrote the row

-- "Which rows did this batch write": BRIN, as batch ids grow with insertion order (a few pages of index,
-- next to nothing per inserted row, unlike a B-tree on the ingest path).
CREATE INDEX IF NOT EXISTS sensor_readings_batch_brin ON ingest.sensor_readings USING brin (batch_id);
CREATE INDEX IF NOT EXISTS gps_fixes_batch_brin ON ingest.gps_fixes USING brin (batch_id);
