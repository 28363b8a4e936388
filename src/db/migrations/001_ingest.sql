-- Raw sensor readings, dead letters and ingest lineage (schema "ingest").
CREATE SCHEMA IF NOT EXISTS ingest;

-- One row per reading; the natural key (source, device_id, event_time) makes every write idempotent.
CREATE TABLE ingest.sensor_readings (
  source          text             NOT NULL,
  device_id       text             NOT NULL,
  event_time      timestamptz      NOT NULL,
  temperature     double precision,          -- °C
  humidity        double precision,          -- relative humidity, %
  light           double precision,          -- lux
  co2             double precision,          -- ppm
  humidity_ratio  double precision,          -- kg water vapour / kg dry air
  batch_id        bigint,
  received_at     timestamptz      NOT NULL DEFAULT now(),
  PRIMARY KEY (source, device_id, event_time)
);
CREATE INDEX sensor_readings_event_time_idx ON ingest.sensor_readings (event_time);

-- Messages that could not be ingested, with their raw bytes, origin and reason.
CREATE TABLE ingest.dead_letters (
  id           bigserial   PRIMARY KEY,
  source       text        NOT NULL,
  origin       jsonb       NOT NULL,   -- e.g. {"mqttTopic": "...", "messageId": 12} or {"topic","partition","offset"}
  payload      bytea       NOT NULL,
  error_code   text        NOT NULL,
  reason       text        NOT NULL,
  batch_id     bigint,
  received_at  timestamptz NOT NULL DEFAULT now(),
  dedupe_key   text        UNIQUE      -- natural key of the message when known, so a redelivery is not dead-lettered twice
);

-- One row per committed batch (lineage, stats).
CREATE TABLE ingest.batches (
  id              bigserial   PRIMARY KEY,
  source          text        NOT NULL,
  consumer        text        NOT NULL,
  messages        integer     NOT NULL,
  rows_inserted   integer     NOT NULL,
  duplicates      integer     NOT NULL,
  dead_letters    integer     NOT NULL,
  first_event     timestamptz,
  last_event      timestamptz,
  committed_at    timestamptz NOT NULL DEFAULT now()
);
