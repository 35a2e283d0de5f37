import { createHash } from 'node:crypto';

/**
 * Statements run on every call (the gateway's preflight and record, the rate-limit booking, the
 * run claim): `prepared(text)` marks a statement text for a named prepared statement, so on server
 * PostgreSQL each connection parses and plans it once instead of on every call (for these CTEs
 * planning costs about as much as running them) and the text is not sent again. Only for texts from
 * a bounded set (constants, or variants built from constants with every value a parameter): each
 * connection keeps every statement it prepared. PGlite runs the text as before.
 */
const names = new Map<string, string>();

export function prepared(text: string): string {
  if (!names.has(text))
    names.set(text, `sluice_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`);
  return text;
}

/** The prepared statement name of a text marked with `prepared`, else undefined. */
export function preparedName(text: string): string | undefined {
  return names.get(text);
}
