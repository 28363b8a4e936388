-- Streams: modem telemetry (Kafka), latest device status, Kafka consumer positions, lake exports.

-- Modem telemetry records (the seed's Kafka producer). Natural key: (source, device_id, interface,
-- event_time), so a redelivered record is written once.
CREATE TABLE IF NOT EXISTS ingest.modem_telemetry (
  source            text             NOT NULL,
  device_id         text             NOT NULL,
  interface         text             NOT NULL,
  event_time        timestamptz      NOT NULL,
  model             text             NOT NULL,
  interface_status  text             NOT NULL,   -- e.g. up / down
  cpu_usage         double precision NOT NULL,   -- %
  memory_usage      double precision NOT NULL,   -- %
  batch_id          bigint,
  received_at       timestamptz      NOT NULL DEFAULT now(),
  PRIMARY KEY (source, device_id, interface, event_time)
);
CREATE INDEX IF NOT EXISTS modem_telemetry_received_at_idx ON ingest.modem_telemetry (received_at);

-- Latest status per device (the seed's MSK → Lambda → DynamoDB). Upserted in the batch transaction;
-- a record only replaces the row when its event time is newer, so out-of-order delivery is safe.
CREATE TABLE IF NOT EXISTS ingest.device_status (
  source      text        NOT NULL,
  device_id   text        NOT NULL,
  kind        text        NOT NULL,   -- sensor | modem | gps
  event_time  timestamptz NOT NULL,
  status      jsonb       NOT NULL,   -- the latest values (measurements, interface state, position)
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (source, device_id)
);

-- Next Kafka offset to consume per (consumer group, topic, partition), written in the same transaction
-- as the rows of the batch: the position PostgreSQL holds is the truth, Kafka's committed offset a copy.
CREATE TABLE IF NOT EXISTS ingest.kafka_offsets (
  group_id     text        NOT NULL,
  topic        text        NOT NULL,
  partition    integer     NOT NULL,
  next_offset  bigint      NOT NULL,
  updated_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (group_id, topic, partition)
);

-- Arrival-time indexes for the hourly lake export.
CREATE INDEX IF NOT EXISTS sensor_readings_received_at_idx ON ingest.sensor_readings (received_at);
CREATE INDEX IF NOT EXISTS gps_fixes_received_at_idx ON ingest.gps_fixes (received_at);
CREATE INDEX IF NOT EXISTS dead_letters_received_at_idx ON ingest.dead_letters (received_at);

-- One row per exported (dataset, hour): what the lake holds, replaced on re-run.
CREATE TABLE IF NOT EXISTS ingest.lake_exports (
  dataset      text        NOT NULL,   -- sensor_readings | modem_telemetry | gps_fixes | errors
  hour         timestamptz NOT NULL,
  rows         bigint      NOT NULL,
  files        jsonb       NOT NULL,
  exported_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (dataset, hour)
);
