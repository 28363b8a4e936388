/**
 * Context functions shared by the parse (discovery) and compile renders: `var()`, `env_var()`,
 * `is_incremental()`, the argument checks of `ref()` / `source()`, and Jinja's capitalised literals.
 */
import { TemplateError } from './errors';
import { splitKeywords } from './template';

/** Names every model and singular test may call. */
export const CONTEXT_FUNCTIONS = ['ref', 'source', 'config', 'var', 'env_var', 'is_incremental'] as const;

/** Jinja's `True`, `False`, `None` (nunjucks only knows the lower-case spellings). */
export const JINJA_LITERALS = { True: true, False: false, None: null } as const;

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
 * `env_var(name, default?)`: an environment variable, else the default.
 * @throws TemplateError when unset without a default.
 */
export function makeEnvVar(file: string): (...args: unknown[]) => unknown {
  return (...raw: unknown[]) => {
    const { positional } = splitKeywords(raw);
    const name = positional[0];
    if (typeof name !== 'string') throw new TemplateError(file, undefined, 'env_var', 'env_var() needs a string name');
    const v = process.env[name];
    if (v !== undefined) return v;
    if (positional.length >= 2) return positional[1];
    throw new TemplateError(file, undefined, name, `env_var('${name}') is not set and has no default`);
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
    throw new TemplateError(
      file,
      undefined,
      String(positional[1]),
      `ref('${String(positional[0])}', ...): only package '${projectName}' exists`,
    );
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
