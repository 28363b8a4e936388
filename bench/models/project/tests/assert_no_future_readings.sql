select * from {{ ref('stg_readings') }} where ts > timestamptz '2100-01-01'
