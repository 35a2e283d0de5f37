import { ExpressionError } from './expression.ts';
import { JsonPathError } from './json-path.ts';

/** A problem found while compiling a validated pipeline file; `path` points into the YAML document. */
export class SpecError extends Error {
  constructor(
    readonly path: readonly (string | number)[],
    message: string,
    /** Where in the string at `path` the problem is (0-based), when known: moves the reported column. */
    readonly offset?: number,
  ) {
    super(message);
  }
}

/** Every problem compilation found (it goes on after the first, so a user fixes them all at once). */
export class SpecErrors extends Error {
  constructor(readonly errors: SpecError[]) {
    super(errors.map((e) => e.message).join('; '));
  }
}

/** Runs a parse function and rethrows its syntax error as a SpecError at `path`. */
export function at<T>(path: readonly (string | number)[], source: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ExpressionError) {
      const near = source.slice(err.offset, err.offset + 20);
      throw new SpecError(path, `${err.message}${near ? ` near "${near}"` : ''} in "${source}"`, err.offset);
    }
    if (err instanceof JsonPathError) throw new SpecError(path, err.message);
    throw err;
  }
}
