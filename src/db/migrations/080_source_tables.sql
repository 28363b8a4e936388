-- Declared sources (sources/*.yaml) get their tables from `sources apply` (src/sources/table.ts), which
-- records every DDL statement it runs here, beside the migration files.
ALTER TABLE ops.schema_migrations ADD COLUMN IF NOT EXISTS statement text;
ALTER TABLE ops.schema_migrations ADD COLUMN IF NOT EXISTS source text;
