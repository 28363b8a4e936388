-- GPS fixes of fleet devices (vehicles). Natural key: (source, device_id, seq), where seq is the
-- device's own fix sequence number (the point id in the go!track data set), so a redelivered fix is
-- written once while two genuinely identical fixes (a stuck GPS, a duplicated track) both stay visible.
CREATE TABLE ingest.gps_fixes (
  source      text             NOT NULL,
  device_id   text             NOT NULL,
  seq         bigint           NOT NULL,
  event_time  timestamptz      NOT NULL,
  track_id    text             NOT NULL DEFAULT '',
  latitude    double precision NOT NULL,   -- WGS84 decimal degrees
  longitude   double precision NOT NULL,   -- WGS84 decimal degrees
  batch_id    bigint,
  received_at timestamptz      NOT NULL DEFAULT now(),
  PRIMARY KEY (source, device_id, seq)
);
CREATE INDEX gps_fixes_event_time_idx ON ingest.gps_fixes (event_time);
