-- Readings with out-of-range values set to NULL.
select
    reading_id,
    device_id,
    ts,
    case when temperature between -40 and 85 then temperature end as temperature,
    case when humidity between 0 and 100 then humidity end as humidity,
    case when co2 between 0 and 10000 then co2 end as co2
from {{ source('raw', 'readings') }}
