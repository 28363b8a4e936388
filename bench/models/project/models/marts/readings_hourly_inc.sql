{{ config(materialized='incremental', unique_key=['device_id', 'hour']) }}
select device_id, date_trunc('hour', ts) as hour, count(*) as n_readings, round(avg(temperature)::numeric, 4) as avg_temperature
from {{ ref('stg_readings') }}
{% if is_incremental() %}
where ts >= (select max(hour) from {{ this }})
{% endif %}
group by 1, 2
