-- Re-driving dead letters (src/ingest/redrive.ts, `iot-pipelines dead-letters redrive`): after the cause
-- is fixed (a device clock, a validation rule), dead letters are validated again and the ones that now
-- pass are written through the batch writer; each keeps its row, marked with when and by which batch.
ALTER TABLE ingest.dead_letters ADD COLUMN IF NOT EXISTS kind text;              -- sensor | modem | gps (NULL: older rows)
ALTER TABLE ingest.dead_letters ADD COLUMN IF NOT EXISTS redriven_at timestamptz; -- NULL while still dead
ALTER TABLE ingest.dead_letters ADD COLUMN IF NOT EXISTS redriven_batch_id bigint;
CREATE INDEX IF NOT EXISTS dead_letters_open_idx ON ingest.dead_letters (source, error_code) WHERE redriven_at IS NULL;
