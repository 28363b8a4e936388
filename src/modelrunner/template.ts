/**
 * Jinja-compatible rendering of model files with nunjucks (https://mozilla.github.io/nunjucks/), in a
 * custom environment: no loader (no `include`/`import` of other files), no autoescape, undefined values
 * in `{{ }}` are errors. Before rendering, the template's syntax tree is checked: a call of a function
 * that is neither a context function (`ref`, `source`, `config`, `var`, `is_incremental`, ...) nor
 * defined in the file (`set`, `macro`, `for`) fails with the file, the 1-based line and the name.
 */
import nunjucks from 'nunjucks';
import { TemplateError } from './errors';

/** Globals nunjucks itself provides (https://mozilla.github.io/nunjucks/templating.html#global-functions). */
const NUNJUCKS_GLOBALS = new Set(['range', 'cycler', 'joiner', 'caller', 'super', 'loop']);

/** Context of one render: the functions and values a model may use. */
export type TemplateContext = Record<string, unknown>;

/** A call of a named function found in a template, with its literal arguments. */
export interface TemplateCall {
  name: string;
  /** 1-based line. */
  line: number;
  /** Positional arguments that are literals (others are `undefined`). */
  args: unknown[];
}

interface AstNode {
  typename: string;
  lineno: number;
  colno: number;
  fields: string[];
  value?: unknown;
  [k: string]: unknown;
}

// nunjucks exports its parser (index.js) but @types/nunjucks does not declare it.
const njParser = (nunjucks as unknown as { parser: { parse(src: string, extensions?: unknown[], opts?: unknown): AstNode } }).parser;

const environment = new nunjucks.Environment(null, { autoescape: false, throwOnUndefined: true, trimBlocks: false });

/**
 * Compiled templates by file, reused while the file's source is the same: a run renders every model
 * more than once (manifest, compile, incremental), and compiling (parse, generate, evaluate the
 * generated JavaScript) is most of a render's cost. One entry per file, replaced when it changes.
 */
const compiled = new Map<string, { source: string; template: nunjucks.Template }>();

function compiledTemplate(file: string, source: string): nunjucks.Template {
  const hit = compiled.get(file);
  if (hit?.source === source) return hit.template;
  const template = new nunjucks.Template(source, environment, file, true);
  compiled.set(file, { source, template });
  return template;
}

function children(n: AstNode): AstNode[] {
  const out: AstNode[] = [];
  for (const f of n.fields) {
    const v = n[f];
    if (Array.isArray(v)) for (const c of v) if (c && typeof c === 'object' && 'typename' in c) out.push(c as AstNode);
    if (v && typeof v === 'object' && 'typename' in v) out.push(v as AstNode);
  }
  return out;
}

function symbolNames(n: unknown): string[] {
  if (!n || typeof n !== 'object') return [];
  const node = n as AstNode;
  if (node.typename === 'Symbol') return [String(node.value)];
  return children(node).flatMap(symbolNames);
}

/** Names the template defines itself: `set` targets, macros and their arguments, loop variables, imports. */
function definedNames(root: AstNode): Set<string> {
  const names = new Set<string>();
  const visit = (n: AstNode) => {
    switch (n.typename) {
      case 'Set':
        for (const t of (n.targets as AstNode[]) ?? []) symbolNames(t).forEach((s) => names.add(s));
        break;
      case 'Macro':
      case 'Caller':
        symbolNames(n.name).forEach((s) => names.add(s));
        symbolNames(n.args).forEach((s) => names.add(s));
        break;
      case 'For':
      case 'AsyncEach':
      case 'AsyncAll':
        symbolNames(n.name).forEach((s) => names.add(s));
        break;
      case 'FromImport':
      case 'Import':
        symbolNames(n.target).forEach((s) => names.add(s));
        symbolNames(n.names).forEach((s) => names.add(s));
        break;
    }
    children(n).forEach(visit);
  };
  visit(root);
  return names;
}

function literalValue(n: AstNode): unknown {
  return n.typename === 'Literal' ? n.value : undefined;
}

function collectCalls(root: AstNode): TemplateCall[] {
  const calls: TemplateCall[] = [];
  const visit = (n: AstNode) => {
    if (n.typename === 'FunCall') {
      const callee = n.name as AstNode;
      if (callee.typename === 'Symbol') {
        const args = ((n.args as AstNode).children as AstNode[]) ?? [];
        calls.push({
          name: String(callee.value),
          line: callee.lineno + 1,
          args: args.filter((a) => a.typename !== 'KeywordArgs').map(literalValue),
        });
      }
    }
    children(n).forEach(visit);
  };
  visit(root);
  return calls;
}

/**
 * Parses `source` and checks that every called function is known.
 * @param file path reported in errors (relative to the project).
 * @param known names of the context functions.
 * @returns the named calls found, in source order.
 * @throws TemplateError on a syntax error or an unknown function (with its 1-based line and name).
 */
export function analyzeTemplate(file: string, source: string, known: Iterable<string>): TemplateCall[] {
  let root: AstNode;
  try {
    root = njParser.parse(source, [], {});
  } catch (e) {
    const err = e as Error & { lineno?: number };
    throw new TemplateError(file, typeof err.lineno === 'number' ? err.lineno : undefined, undefined, `syntax error: ${err.message}`);
  }
  const allowed = new Set([...known, ...NUNJUCKS_GLOBALS, ...definedNames(root)]);
  const calls = collectCalls(root);
  for (const c of calls) {
    if (!allowed.has(c.name)) throw new TemplateError(file, c.line, c.name, `unknown function ${c.name}()`);
  }
  return calls;
}

/**
 * Errors thrown by context functions while rendering are kept here so the original error (with its
 * own context) is reported rather than nunjucks' wrapped text.
 */
export class RenderState {
  error: Error | undefined;
  /** Wraps `fn` so an exception it throws is remembered. */
  guard<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R {
    return (...args: A) => {
      try {
        return fn(...args);
      } catch (e) {
        this.error ??= e as Error;
        throw e;
      }
    };
  }
}

/**
 * Renders `source` with `context`. Call {@link analyzeTemplate} first for static checks.
 * @throws TemplateError with the file and, when nunjucks reports it, the 1-based line. When a context
 *   function threw a TemplateError without a line, the line is filled in.
 */
export function renderTemplate(file: string, source: string, context: TemplateContext, state: RenderState): string {
  try {
    return compiledTemplate(file, source).render(context);
  } catch (e) {
    const message = (e as Error).message ?? String(e);
    // nunjucks runtime errors: "(file) [Line L, Column C]\n  Error: ..." with a 0-based L.
    const m = /\[Line (\d+), Column \d+\]/.exec(message);
    const line = m ? Number(m[1]) + 1 : undefined;
    const original = state.error;
    if (original instanceof TemplateError) {
      throw new TemplateError(original.file, original.line ?? line, original.symbol, original.detail);
    }
    if (original) throw new TemplateError(file, line, undefined, original.message);
    const detail = message.replace(/^\([^)]*\)( \[Line \d+, Column \d+\])?\s*/, '').replace(/^Error: /, '');
    const callee = /Unable to call `([^`]+)`/.exec(detail);
    throw new TemplateError(file, line, callee?.[1], detail);
  }
}

/** Splits nunjucks keyword arguments (`config(materialized='table')`) from positional ones. */
export function splitKeywords(args: unknown[]): { positional: unknown[]; keywords: Record<string, unknown> } {
  const last = args[args.length - 1];
  if (last && typeof last === 'object' && (last as Record<string, unknown>).__keywords === true) {
    const { __keywords: _, ...keywords } = last as Record<string, unknown>;
    return { positional: args.slice(0, -1), keywords };
  }
  return { positional: args, keywords: {} };
}
