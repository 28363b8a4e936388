-- Events pipeline (eventsStats workflow): per-(date, user) event counts from the events API.
-- A run replaces the rows of the dates in its data interval in one transaction.
CREATE SCHEMA IF NOT EXISTS analytics;

CREATE TABLE IF NOT EXISTS analytics.event_stats (
  event_date      date        NOT NULL,
  user_ip         text        NOT NULL,                 -- the event's "user" (an IPv4 address)
  event_count     integer     NOT NULL CHECK (event_count > 0),
  interval_start  timestamptz NOT NULL,                 -- data interval of the run that wrote the row
  interval_end    timestamptz NOT NULL,
  computed_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (event_date, user_ip)
);
