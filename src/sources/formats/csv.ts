/**
 * `format: csv`: one or more lines per payload, parsed by csv-parse (RFC 4180 quoting). The first line
 * names the columns (`header: true`, the default without `columns`), or `columns: [...]` does; every
 * value is text, read as its measurement's declared type. Payloads without a quote, CR or BOM are split
 * directly (the same rows csv-parse gives for them; a test compares both on generated input).
 */
import { parse } from 'csv-parse/sync';
import { decodeTextPayload } from '../../ingest/payload';
import type { DecodeResult, FormatFactory, PayloadRecord } from './index';

/** See the module comment. */
export const csvFormat: FormatFactory = (format) => {
  const f = format as { type: 'csv'; header?: boolean; columns?: string[]; delimiter?: string };
  const header = f.header ?? !f.columns;
  const delimiter = f.delimiter ?? ',';
  return {
    textual: true,
    decode(payload): DecodeResult {
      const decoded = decodeTextPayload(payload);
      if (!decoded.ok) return decoded;
      const text = decoded.text;
      if (text.includes('\0')) return { ok: false, code: 'schema', reason: 'contains U+0000 (NUL), which PostgreSQL text cannot store' };
      let rows: string[][];
      if (!text.includes('"') && !text.includes('\r') && text.charCodeAt(0) !== 0xfeff) {
        // Nothing quoted: the lines and fields are the text split (what csv-parse returns for it, at a
        // hundredth of its cost per payload, measured in `npm run bench`); anything else goes to csv-parse.
        rows = [];
        for (const line of text.split('\n')) {
          if (!line.trim() && !line.includes(delimiter)) continue;
          rows.push(line.split(delimiter).map((v) => v.trim()));
        }
      } else {
        try {
          rows = parse(text, { delimiter, skip_empty_lines: true, trim: true, relax_quotes: false, bom: true });
        } catch (e) {
          return { ok: false, code: 'schema', reason: `not CSV: ${(e as Error).message}` };
        }
      }
      let columns = f.columns;
      let first = 0;
      if (header) {
        columns = rows[0];
        first = 1;
      }
      if (!columns || rows.length <= first) return { ok: false, code: 'schema', reason: 'no data line' };
      const records: PayloadRecord[] = [];
      for (let i = first; i < rows.length; i++) {
        const row = rows[i]!;
        if (row.length !== columns.length) {
          return {
            ok: false,
            code: 'schema',
            reason: `line ${i + 1}: ${row.length} values for ${columns.length} columns (${columns.join(delimiter)})`,
          };
        }
        const r: PayloadRecord = {};
        for (let c = 0; c < columns.length; c++) {
          const v = row[c]!;
          // An empty CSV cell is a missing value.
          if (v !== '') r[columns[c]!] = v;
        }
        records.push(r);
      }
      return { ok: true, records };
    },
  };
};
