{%- set metrics = var('metrics') -%}
select
    site_code,
    date_trunc('day', hour) as day,
{%- for m in metrics %}
    round(avg(avg_{{ m }}), 4) as avg_{{ m }}{% if not loop.last %},{% endif %}
{%- endfor %}
from {{ ref('readings_hourly') }}
group by 1, 2
