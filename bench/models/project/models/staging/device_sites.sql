{{ config(materialized='ephemeral') }}
select d.device_id, d.model, d.site_code, s.site_name
from {{ ref('devices') }} d
join {{ ref('sites') }} s on s.site_code = d.site_code
where d.active
