/** How the sources module names a value in a dead-letter reason. */

/** `v` as JSON, cut to `max` characters (`...` at the end), for a reason. */
export function describeValue(v: unknown, max: number): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > max ? `${s.slice(0, max - 3)}...` : s;
}

/** The JSON kind of `v`: `null`, `array`, or its `typeof`. */
export function kindOf(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}
