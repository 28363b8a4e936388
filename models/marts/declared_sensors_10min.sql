-- 10-minute temperature and humidity per device from the declared sources (sources/*.yaml), the
-- devices connected by configuration: the Python MQTT sensors (sources/mqtt-sensor-data.yaml) and the
-- Kafka sensors without timestamps (sources/kafka-sensor-data.yaml, windows of their record time).
-- Out-of-range values (named in out_of_range at ingest) are left out of the averages.
-- Windows are aligned on 2000-01-01 00:00 UTC like sensor_readings_10min. Lineage columns as there: the
-- ingest batches of the window's rows, and the run that defined the view.
{{ config(materialized='view', tags=['marts', 'sensors', 'declared']) }}

select
    source,
    device_id,
    date_bin('10 minutes', event_time, TIMESTAMPTZ '2000-01-01 00:00:00+00') as window_start,
    avg(temperature) filter (where not coalesce('temperature' = any(out_of_range), false))::double precision as avg_temperature,
    avg(humidity) filter (where not coalesce('humidity' = any(out_of_range), false))::double precision       as avg_humidity,
    count(*)::bigint                                                                                       as reading_count,
    array_agg(distinct batch_id order by batch_id)                                                         as ingest_batch_ids,
    '{{ invocation_id }}'::text                                                                            as workflow_run_id
from {{ source('devices', 'mqtt-sensor-data') }}
group by 1, 2, 3

union all

select
    source,
    device_id,
    date_bin('10 minutes', event_time, TIMESTAMPTZ '2000-01-01 00:00:00+00'),
    avg(temperature) filter (where not coalesce('temperature' = any(out_of_range), false))::double precision,
    null::double precision,
    count(*)::bigint,
    array_agg(distinct batch_id order by batch_id),
    '{{ invocation_id }}'::text
from {{ source('devices', 'kafka-sensor-data') }}
group by 1, 2, 3
