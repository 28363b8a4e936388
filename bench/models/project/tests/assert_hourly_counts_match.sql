-- The incremental and the full hourly tables count the same readings for active devices.
select h.device_id, h.hour
from {{ ref('readings_hourly') }} h
join {{ ref('readings_hourly_inc') }} i using (device_id, hour)
where h.n_readings <> i.n_readings
