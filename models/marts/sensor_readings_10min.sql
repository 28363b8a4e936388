-- 10-minute aggregates per device. The column names and types are a contract: the ONNX occupancy
-- model (trained elsewhere) reads avg_temperature, avg_humidity, avg_light, avg_co2 and reading_count
-- per (source, device_id, window_start).
-- Windows are aligned on 2000-01-01 00:00 UTC: [window_start, window_start + 10 min).
{{ config(materialized='table') }}

select
    source,
    device_id,
    date_bin('10 minutes', event_time, TIMESTAMPTZ '2000-01-01 00:00:00+00') as window_start,
    avg(temperature)::double precision                                      as avg_temperature,
    avg(humidity)::double precision                                         as avg_humidity,
    avg(light)::double precision                                            as avg_light,
    avg(co2)::double precision                                              as avg_co2,
    count(*)::bigint                                                        as reading_count
from {{ ref('stg_sensor_readings') }}
group by 1, 2, 3
