-- 10-minute aggregates per device. The column names and types are a contract: the ONNX occupancy
-- model (trained elsewhere) reads avg_temperature, avg_humidity, avg_light, avg_co2 and reading_count
-- per (source, device_id, window_start).
-- Windows are aligned on 2000-01-01 00:00 UTC: [window_start, window_start + 10 min).
--
-- Incremental, keyed on the data interval: the first build (or --full-refresh) aggregates every
-- reading; afterwards a run with vars data_interval_start / data_interval_end recomputes only the
-- windows that start in [date_bin(data_interval_start), data_interval_end) from ALL their readings
-- and upserts them on (source, device_id, window_start). Re-running an interval, or intervals that
-- overlap, never duplicates a window. Without the vars an incremental run recomputes every window.
--
-- Lineage: every row carries the ingest batches of its readings and the run that built it, so the
-- messages behind a window (and the predictions made from it) are one query away (README, "Which
-- messages made this prediction"). A table built before these columns existed gets them on its next
-- run (on_schema_change='append_new_columns').
{{ config(
    materialized='incremental',
    unique_key=['source', 'device_id', 'window_start'],
    incremental_strategy='merge',
    on_schema_change='append_new_columns'
) }}

{%- set interval_start = var('data_interval_start', none) -%}
{%- set interval_end = var('data_interval_end', none) %}

select
    source,
    device_id,
    date_bin('10 minutes', event_time, TIMESTAMPTZ '2000-01-01 00:00:00+00') as window_start,
    avg(temperature)::double precision                                      as avg_temperature,
    avg(humidity)::double precision                                         as avg_humidity,
    avg(light)::double precision                                            as avg_light,
    avg(co2)::double precision                                              as avg_co2,
    count(*)::bigint                                                        as reading_count,
    coalesce(array_agg(distinct batch_id order by batch_id) filter (where batch_id is not null), '{}')::bigint[] as ingest_batch_ids,
    '{{ invocation_id }}'::text                                             as workflow_run_id
from {{ ref('stg_sensor_readings') }}
{% if is_incremental() and interval_start is not none and interval_end is not none %}
-- Readings of the windows that start inside the interval (the last window may reach past its end).
where event_time >= date_bin('10 minutes', '{{ interval_start }}'::timestamptz, TIMESTAMPTZ '2000-01-01 00:00:00+00')
  and date_bin('10 minutes', event_time, TIMESTAMPTZ '2000-01-01 00:00:00+00') < '{{ interval_end }}'::timestamptz
{% endif %}
group by 1, 2, 3
