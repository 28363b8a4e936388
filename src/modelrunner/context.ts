/**
 * Context functions shared by the parse (discovery) and compile renders: `var()`, `is_incremental()`,
 * and the argument checks of `ref()` / `source()`.
 */
import { TemplateError } from './errors';
import { splitKeywords } from './template';

/** Names every model may call. */
export const CONTEXT_FUNCTIONS = ['ref', 'source', 'config', 'var', 'is_incremental'] as const;

/**
 * `var(name, default?)`: the run's value, else the default.
 * @throws TemplateError when the var is unset and no default is given.
 */
export function makeVar(file: string, vars: Record<string, unknown>): (...args: unknown[]) => unknown {
  return (...raw: unknown[]) => {
    const { positional } = splitKeywords(raw);
    const name = positional[0];
    if (typeof name !== 'string') throw new TemplateError(file, undefined, 'var', 'var() needs a string name');
    if (Object.prototype.hasOwnProperty.call(vars, name)) return vars[name];
    if (positional.length >= 2) return positional[1];
    throw new TemplateError(file, undefined, name, `var('${name}') is not set and has no default`);
  };
}

/**
 * Model name of `ref('name')` or `ref('package', 'name')`.
 * @throws TemplateError on other argument shapes or a foreign package.
 */
export function refName(file: string, projectName: string, raw: unknown[]): string {
  const { positional } = splitKeywords(raw);
  const strings = positional.every((a) => typeof a === 'string');
  if (!strings || positional.length < 1 || positional.length > 2) {
    throw new TemplateError(file, undefined, 'ref', `ref() takes 'model' or 'package', 'model' as strings`);
  }
  if (positional.length === 2 && positional[0] !== projectName) {
    throw new TemplateError(file, undefined, String(positional[1]), `ref('${String(positional[0])}', ...): only package '${projectName}' exists`);
  }
  return String(positional[positional.length - 1]);
}

/**
 * `[source_name, table_name]` of `source('s', 't')`.
 * @throws TemplateError on other argument shapes.
 */
export function sourceArgs(file: string, raw: unknown[]): [string, string] {
  const { positional } = splitKeywords(raw);
  if (positional.length !== 2 || !positional.every((a) => typeof a === 'string')) {
    throw new TemplateError(file, undefined, 'source', `source() takes 'source_name', 'table_name' as strings`);
  }
  return [positional[0] as string, positional[1] as string];
}

/** `is_incremental()`: always false until the incremental materialization exists. */
export function isIncremental(): boolean {
  return false;
}
