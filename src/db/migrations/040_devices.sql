-- Devices, data-quality alerts, weather forecasts, notification de-duplication, and the dashboard's
-- change feed (NOTIFY on channel "iot_dashboard").
CREATE SCHEMA IF NOT EXISTS fleet;
CREATE SCHEMA IF NOT EXISTS quality;
CREATE SCHEMA IF NOT EXISTS weather;
CREATE SCHEMA IF NOT EXISTS ops;

-- Latest known state of each device, written by its entity workflow (device-<source>-<device>) on changes.
CREATE TABLE fleet.devices (
  source               text        NOT NULL,
  device_id            text        NOT NULL,
  kind                 text        NOT NULL,              -- 'gps' | 'sensor'
  status               text        NOT NULL,              -- 'ok' | 'alerting' | 'silent'
  first_seen           timestamptz,
  last_seen            timestamptz,                       -- arrival time of the latest data reported
  last_event_time      timestamptz,                       -- event time of the latest data reported
  latest               jsonb,                             -- last position {lat, lon} (degrees) or readings
  open_alerts          integer     NOT NULL DEFAULT 0,
  expected_interval_ms bigint      NOT NULL,
  muted_rules          jsonb       NOT NULL DEFAULT '{}'::jsonb,  -- rule -> muted until (ISO)
  workflow_id          text        NOT NULL,
  updated_at           timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (source, device_id)
);

-- One row per finding: idempotent per (source, device, rule, window). Re-running a window updates
-- last_seen/evidence, never adds rows. Device-level alerts (silence) use the window they were raised in.
CREATE TABLE quality.alerts (
  id               bigserial   PRIMARY KEY,
  source           text        NOT NULL,
  device_id        text        NOT NULL,
  rule             text        NOT NULL,
  window_start     timestamptz NOT NULL,
  window_end       timestamptz NOT NULL,
  severity         text        NOT NULL,                 -- 'info' | 'warning' | 'error'
  message          text        NOT NULL,
  evidence         jsonb       NOT NULL,
  status           text        NOT NULL DEFAULT 'open',  -- 'open' | 'acknowledged' | 'resolved'
  first_seen       timestamptz NOT NULL DEFAULT now(),
  last_seen        timestamptz NOT NULL DEFAULT now(),
  acknowledged_by  text,
  acknowledged_at  timestamptz,
  resolved_at      timestamptz,
  muted_until      timestamptz,
  UNIQUE (source, device_id, rule, window_start, window_end)
);
CREATE INDEX alerts_status_idx ON quality.alerts (status, last_seen DESC);

-- Notifications already delivered, by dedupe key (src/notify/dedupe.ts).
CREATE TABLE ops.notifications_sent (
  dedupe_key  text        PRIMARY KEY,
  sent_at     timestamptz NOT NULL DEFAULT now()
);

-- One row per stored forecast (a fetch of the weather pipeline).
CREATE TABLE weather.forecast_runs (
  id                 bigserial        PRIMARY KEY,
  location           text             NOT NULL,
  url                text             NOT NULL,
  latitude           double precision NOT NULL,      -- grid cell used by the provider, degrees
  longitude          double precision NOT NULL,
  elevation_m        double precision,
  timezone           text,
  fetched_at         timestamptz      NOT NULL DEFAULT now(),
  first_hour         timestamptz      NOT NULL,
  hours              integer          NOT NULL,
  stats              jsonb            NOT NULL,      -- counts: values, nulls, gaps, conversions
  units              jsonb            NOT NULL,      -- variable -> {sourceUnit, unit}
  daily              jsonb            NOT NULL       -- daily block as received, with its units
);

-- Hourly forecast values in SI units (long format). Re-storing an hour replaces its value (latest forecast wins).
CREATE TABLE weather.forecast_hourly (
  location      text             NOT NULL,
  valid_time    timestamptz      NOT NULL,
  variable      text             NOT NULL,
  value         double precision,                    -- in `unit`; NULL when the provider sent null
  unit          text             NOT NULL,
  source_value  double precision,
  source_unit   text             NOT NULL,
  run_id        bigint           NOT NULL REFERENCES weather.forecast_runs (id),
  PRIMARY KEY (location, valid_time, variable)
);

-- Change feed for the dashboard: one NOTIFY per statement, payload = table name.
CREATE OR REPLACE FUNCTION ops.notify_dashboard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('iot_dashboard', TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME);
  RETURN NULL;
END $$;
CREATE TRIGGER devices_notify AFTER INSERT OR UPDATE OR DELETE ON fleet.devices
  FOR EACH STATEMENT EXECUTE FUNCTION ops.notify_dashboard();
CREATE TRIGGER alerts_notify AFTER INSERT OR UPDATE OR DELETE ON quality.alerts
  FOR EACH STATEMENT EXECUTE FUNCTION ops.notify_dashboard();
CREATE TRIGGER forecast_runs_notify AFTER INSERT ON weather.forecast_runs
  FOR EACH STATEMENT EXECUTE FUNCTION ops.notify_dashboard();
CREATE TRIGGER predictions_notify AFTER INSERT OR UPDATE OR DELETE ON ml.occupancy_predictions
  FOR EACH STATEMENT EXECUTE FUNCTION ops.notify_dashboard();
