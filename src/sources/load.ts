/**
 * Loads source files (`sources/*.yaml`): YAML → declaration (zod) → compiled source, once at load. Every
 * problem names the file, the line and column, the field and what to do, e.g.
 * `sources/modem.yaml:14:11: measurements.cpu_usage.type: Invalid option: expected one of "double"|…`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { isMap, isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import { ROOT_DIR } from '../config/env';
import { compileSource, SourceCompileError, type CompiledSource } from './compile';
import { sourceDeclarationSchema, sourceTable, type SourceDeclaration } from './declaration';
import { compileEncoder, type SourceEncoder } from './encode';

/** The folder of source files: `SOURCES_DIR`, else `sources/` in the project. */
export function sourcesDir(): string {
  return process.env.SOURCES_DIR ? path.resolve(process.env.SOURCES_DIR) : path.join(ROOT_DIR, 'sources');
}

/** The source files shipped with the project (`sources/` in the project), whatever `SOURCES_DIR` says. */
export const SHIPPED_SOURCES_DIR = path.join(ROOT_DIR, 'sources');

/**
 * The source file named `name` (its `name:` field): in {@link sourcesDir}, else among the shipped ones
 * (so the built-in kinds `sensor`, `modem` and `gps` stay available with a `SOURCES_DIR` of your own).
 * @returns undefined when neither folder has it
 * @throws SourceFileError when a folder's files have problems
 */
export function findSource(name: string): LoadedSource | undefined {
  if (sourcesDir() === SHIPPED_SOURCES_DIR) return loadSources().get(name);
  let mine: Map<string, LoadedSource>;
  try {
    mine = loadSources();
  } catch (e) {
    // A problem in another file of yours does not stop a stream of a shipped source.
    const shipped = e instanceof SourceFileError ? loadSources(SHIPPED_SOURCES_DIR).get(name) : undefined;
    if (shipped) return shipped;
    throw e;
  }
  return mine.get(name) ?? loadSources(SHIPPED_SOURCES_DIR).get(name);
}

/** One problem in a source file. */
export interface SourceProblem {
  file: string;
  line?: number;
  column?: number;
  /** Dotted field path, e.g. `measurements.cpu_usage.type`; empty for the whole file. */
  field: string;
  message: string;
}

/** One or more source files are invalid; `problems` holds each, `message` one line per problem. */
export class SourceFileError extends Error {
  override readonly name = 'SourceFileError';
  constructor(readonly problems: SourceProblem[]) {
    super(problems.map(formatProblem).join('\n'));
  }
}

/** `file:line:column: field: message`. */
export function formatProblem(p: SourceProblem): string {
  const at = p.line !== undefined ? `${p.file}:${p.line}:${p.column ?? 1}` : p.file;
  return `${at}: ${p.field ? `${p.field}: ` : ''}${p.message}`;
}

/** A loaded source: its file, declaration, compiled mapping and row encoder. */
export interface LoadedSource extends CompiledSource {
  file: string;
  encode: SourceEncoder;
}

/** Where `fieldPath` is in the document: the deepest node that exists on the path (key if the value is missing). */
function locate(doc: Document, lc: LineCounter, fieldPath: Array<string | number | symbol>): { line: number; column: number } | undefined {
  let node: unknown = doc.contents;
  let at: [number, number, number] | undefined = (node as { range?: [number, number, number] } | null)?.range;
  for (const key of fieldPath) {
    if (!isMap(node)) break;
    const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(key));
    if (!pair) break;
    const k = pair.key as { range?: [number, number, number] };
    at = (pair.value as { range?: [number, number, number] } | null)?.range ?? k.range ?? at;
    node = pair.value;
  }
  if (!at) return undefined;
  const pos = lc.linePos(at[0]);
  return { line: pos.line, column: pos.col };
}

function hintFor(issue: z.core.$ZodIssue): string {
  const field = issue.path.join('.');
  if (issue.code === 'invalid_key') {
    return `${JSON.stringify(String(issue.path[issue.path.length - 1]))} is not a measurement name: a measurement name must be a lower-case SQL identifier (a letter or _, then letters, digits or _, at most 63 characters); read the payload field with field:`;
  }
  if (issue.code === 'unrecognized_keys') {
    return `${issue.message}; known fields are in sources/README.md`;
  }
  if (field === 'device_id' || field === 'event_time') {
    return `${issue.message}: write { field: <path> }, { topic: <segment> }, { key: true }, { header: <name> } or { expression: <JSONata> }${field === 'event_time' ? ', with format: and zone:, or leave event_time out for arrival time' : ''}`;
  }
  return issue.message;
}

/**
 * Parses and compiles one source file's text.
 * @param file shown in problems (e.g. `sources/modem.yaml`)
 * @throws SourceFileError listing every problem found
 */
export function parseSourceFile(file: string, text: string): LoadedSource {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length) {
    throw new SourceFileError(
      doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        return { file, line: pos?.line, column: pos?.col, field: '', message: `YAML: ${e.message.split('\n')[0]}` };
      }),
    );
  }
  const raw: unknown = doc.toJS();
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new SourceFileError([
      { file, field: '', message: 'must be a YAML mapping of source fields (name, mqtt or kafka, device_id, measurements, …)' },
    ]);
  }
  const parsed = sourceDeclarationSchema.safeParse(raw);
  if (!parsed.success) {
    throw new SourceFileError(
      parsed.error.issues.map((i) => ({ file, ...locate(doc, lc, i.path), field: i.path.join('.'), message: hintFor(i) })),
    );
  }
  let compiled: CompiledSource;
  try {
    compiled = compileSource(parsed.data);
  } catch (e) {
    if (e instanceof SourceCompileError) {
      throw new SourceFileError([{ file, ...locate(doc, lc, e.path), field: e.path.join('.'), message: e.message }]);
    }
    throw e;
  }
  return { ...compiled, file, encode: compileEncoder(compiled) };
}

/**
 * Loads every `*.yaml` / `*.yml` file of `dir` (sorted by name), checking names and tables are unique.
 * @param dir @default {@link sourcesDir}
 * @returns the sources by name; an empty map when the folder does not exist
 * @throws SourceFileError listing the problems of every invalid file
 */
export function loadSources(dir = sourcesDir()): Map<string, LoadedSource> {
  const out = new Map<string, LoadedSource>();
  if (!fs.existsSync(dir)) return out;
  const problems: SourceProblem[] = [];
  const tables = new Map<string, string>();
  for (const f of fs
    .readdirSync(dir)
    .filter((x) => /\.ya?ml$/.test(x))
    .sort()) {
    const full = path.join(dir, f);
    const file = path.relative(process.cwd(), full) || full;
    try {
      const s = parseSourceFile(file, fs.readFileSync(full, 'utf8'));
      const other = out.get(s.name);
      if (other) {
        problems.push({ file, field: 'name', message: `${s.name} is already declared in ${other.file}; source names are unique` });
        continue;
      }
      const t = tables.get(s.table);
      if (t) {
        problems.push({ file, field: 'table', message: `ingest.${s.table} is already the table of ${t}; give this source its own table:` });
        continue;
      }
      tables.set(s.table, s.file);
      out.set(s.name, s);
    } catch (e) {
      if (e instanceof SourceFileError) problems.push(...e.problems);
      else throw e;
    }
  }
  if (problems.length) throw new SourceFileError(problems);
  return out;
}

/**
 * Compiles a declaration that came from elsewhere (a workflow input: the file as applied).
 * @param o.source the stream's source, carried by the rows of a template (`template: true`)
 * @throws SourceFileError
 */
export function loadDeclaration(d: unknown, label = 'declaration', o: { source?: string } = {}): LoadedSource {
  const parsed = sourceDeclarationSchema.safeParse(d);
  if (!parsed.success) {
    throw new SourceFileError(parsed.error.issues.map((i) => ({ file: label, field: i.path.join('.'), message: hintFor(i) })));
  }
  try {
    const compiled = compileSource(parsed.data, o);
    return { ...compiled, file: label, encode: compileEncoder(compiled) };
  } catch (e) {
    if (e instanceof SourceCompileError) throw new SourceFileError([{ file: label, field: e.path.join('.'), message: e.message }]);
    throw e;
  }
}

export type { SourceDeclaration };
export { sourceTable };
