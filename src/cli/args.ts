/** Argument parsers shared by the CLI commands (commander option coercers). */
import { InvalidArgumentError } from 'commander';

/**
 * Parser of a positive integer option named `name` (used in the error message).
 * @throws InvalidArgumentError naming the option and the value it got.
 */
export function positiveInt(name: string): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive integer, got ${JSON.stringify(v)}.`);
    return n;
  };
}
