-- State a source's format keeps per stream, stored in the same transaction as the batch that changed it
-- (formats/index.ts FormatSession). Sparkplug B (format: sparkplug_b) keeps one row per edge node, key
-- '<group_id>/<edge_node_id>': online, bdSeq, the next seq, the alias table (alias -> name, datatype)
-- and its devices, so a restarted consumer resolves aliases and checks sequence numbers where it left off.
CREATE TABLE IF NOT EXISTS ingest.source_state (
  source     text        NOT NULL,
  key        text        NOT NULL,
  state      jsonb       NOT NULL,
  batch_id   bigint      NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (source, key)
);
COMMENT ON TABLE ingest.source_state IS 'Per-stream state of session formats (Sparkplug B edge nodes: alias tables, seq, bdSeq), written with each batch';
