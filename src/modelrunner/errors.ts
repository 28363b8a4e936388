/**
 * Errors of the model runner. Each carries its context as readonly fields; `retryable` is decided here
 * (at the source) and mapped to `ApplicationFailure.nonRetryable` at the activity boundary.
 */

/** Base class: a project, template, graph or SQL problem. Not retryable unless a subclass says so. */
export class ModelRunnerError extends Error {
  /** True when running the same thing again may succeed (connection lost, deadlock...). */
  readonly retryable: boolean = false;
  override name = 'ModelRunnerError';
}

/** `dbt_project.yml` or a `schema.yml` is missing or malformed. */
export class ProjectError extends ModelRunnerError {
  override name = 'ProjectError';
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
  }
}

/**
 * A model's template cannot be parsed or rendered: unknown function, bad `ref()`/`source()`, missing
 * var, Jinja syntax error.
 */
export class TemplateError extends ModelRunnerError {
  override name = 'TemplateError';
  constructor(
    /** File path relative to the project directory. */
    readonly file: string,
    /** 1-based line, when known. */
    readonly line: number | undefined,
    /** Offending function / ref / var name, when there is one. */
    readonly symbol: string | undefined,
    readonly detail: string,
  ) {
    super(`${file}${line !== undefined ? `:${line}` : ''}: ${detail}`);
  }
}

/** The `ref()` graph has a cycle. */
export class CycleError extends ModelRunnerError {
  override name = 'CycleError';
  constructor(
    /** Unique IDs along the cycle, first repeated last: `[a, b, a]`. */
    readonly cycle: string[],
    /** Same cycle as model names. */
    readonly cycleNames: string[],
  ) {
    super(`ref() cycle: ${cycleNames.join(' -> ')}`);
  }
}

/** A selector matched no model, or a unique ID is not in the manifest. */
export class SelectionError extends ModelRunnerError {
  override name = 'SelectionError';
  constructor(
    readonly selector: string,
    message: string,
  ) {
    super(message);
  }
}

/** An identifier that cannot be quoted safely (empty, NUL byte, longer than PostgreSQL's 63 bytes). */
export class UnsafeIdentifierError extends ModelRunnerError {
  override name = 'UnsafeIdentifierError';
  constructor(
    readonly identifier: string,
    readonly reason: string,
  ) {
    super(`unsafe identifier ${JSON.stringify(identifier)}: ${reason}`);
  }
}

/** Building a node's relation failed in the database. */
export class ModelExecutionError extends ModelRunnerError {
  override name = 'ModelExecutionError';
  override readonly retryable: boolean;
  constructor(
    readonly uniqueId: string,
    /** SQLSTATE or Node error code (`42P01`, `ECONNREFUSED`), when known. */
    readonly code: string | undefined,
    readonly detail: string,
    retryable: boolean,
  ) {
    super(`${uniqueId}: ${detail}`);
    this.retryable = retryable;
  }
}
