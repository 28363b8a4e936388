select
    r.device_id,
    ds.site_code,
    date_trunc('hour', r.ts) as hour,
{%- for m in var('metrics') %}
    round(avg(r.{{ m }})::numeric, 4) as avg_{{ m }},
{%- endfor %}
    count(*) as n_readings
from {{ ref('stg_readings') }} r
join {{ ref('device_sites') }} ds on ds.device_id = r.device_id
group by 1, 2, 3
