-- Model outputs live in "analytics" (built by the model runner); predictions in "ml".
CREATE SCHEMA IF NOT EXISTS analytics;
CREATE SCHEMA IF NOT EXISTS ml;

-- Occupancy predictions per 10-minute window; re-running a window replaces its rows.
CREATE TABLE ml.occupancy_predictions (
  source          text             NOT NULL,
  device_id       text             NOT NULL,
  window_start    timestamptz      NOT NULL,
  model_version   text             NOT NULL,
  occupied        boolean          NOT NULL,
  probability     double precision NOT NULL,   -- P(occupied), 0..1
  predicted_at    timestamptz      NOT NULL DEFAULT now(),
  PRIMARY KEY (source, device_id, window_start, model_version)
);

-- Launch pipeline output: one row per downloaded image.
CREATE TABLE ops.launch_images (
  launch_id      text        PRIMARY KEY,
  launch_name    text        NOT NULL,
  image_url      text        NOT NULL,
  file_path      text        NOT NULL,
  bytes          bigint      NOT NULL,
  downloaded_at  timestamptz NOT NULL DEFAULT now()
);
