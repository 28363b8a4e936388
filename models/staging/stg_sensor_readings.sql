-- Cleaned sensor readings: one row per raw reading that has at least one usable measurement.
-- A measurement becomes NULL when it is the UCI Air Quality fault code -200 or outside the sensor's
-- plausible range (ranges and their sources in models/schema.yml). NaN and ±Infinity fall outside every
-- range (PostgreSQL orders NaN above all numbers), so they become NULL too.
{{ config(materialized='view') }}

with readings as (
    select
        source,
        device_id,
        event_time,
        case when temperature = -200 then null
             when temperature between -40 and 85 then temperature end       as temperature,     -- °C
        case when humidity = -200 then null
             when humidity between 0 and 100 then humidity end              as humidity,        -- % RH
        case when light = -200 then null
             when light between 0 and 100000 then light end                 as light,           -- lux
        case when co2 = -200 then null
             when co2 between 0 and 10000 then co2 end                      as co2,             -- ppm
        case when humidity_ratio = -200 then null
             when humidity_ratio between 0 and 0.1 then humidity_ratio end  as humidity_ratio,  -- kg/kg
        batch_id
    from {{ source('ingest', 'sensor_readings') }}
)

select
    source,
    device_id,
    event_time,
    temperature,
    humidity,
    light,
    co2,
    humidity_ratio,
    batch_id
from readings
where coalesce(temperature, humidity, light, co2, humidity_ratio) is not null
