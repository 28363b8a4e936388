{{ config(materialized='view') }}
select h.device_id, h.hour, t.metric, t.severity
from {{ ref('readings_hourly') }} h
join {{ ref('thresholds') }} t
  on (t.metric = 'temperature' and h.avg_temperature > t.max_value)
  or (t.metric = 'humidity' and h.avg_humidity > t.max_value)
  or (t.metric = 'co2' and h.avg_co2 > t.max_value)
