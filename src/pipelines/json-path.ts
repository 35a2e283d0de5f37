/**
 * The JSON-path subset used to map a provider's or an HTTP response's output to fields:
 * `$` (everything), `$.data.email`, `data.email` (the `$.` is optional), `emails[0].value`,
 * `emails[-1]` (from the end), `emails[*].value` (a list), `['odd key']`.
 */
export type PathSegment = string | number | '*';

export class JsonPathError extends Error {}

export function parseJsonPath(path: string): PathSegment[] {
  let s = path.trim();
  if (s === '$' || s === '') return [];
  if (s.startsWith('$.')) s = s.slice(2);
  else if (s.startsWith('$[')) s = s.slice(1);
  const out: PathSegment[] = [];
  let i = 0;
  while (i < s.length) {
    if (s[i] === '.') {
      i++;
      continue;
    }
    if (s[i] === '[') {
      const close = s.indexOf(']', i);
      if (close < 0) throw new JsonPathError(`"[" without "]" in path "${path}"`);
      const inner = s.slice(i + 1, close).trim();
      if (inner === '*') out.push('*');
      else if (/^-?\d+$/.test(inner)) out.push(Number(inner));
      else if (/^(['"]).*\1$/.test(inner)) out.push(inner.slice(1, -1));
      else throw new JsonPathError(`bad index [${inner}] in path "${path}" (use [0], [-1], [*] or ['key'])`);
      i = close + 1;
      continue;
    }
    const m = /^[^.[\]]+/.exec(s.slice(i));
    if (!m) throw new JsonPathError(`cannot read path "${path}" at "${s.slice(i)}"`);
    out.push(m[0]);
    i += m[0].length;
  }
  return out;
}

/** Selects a value; undefined when any segment is missing. `[*]` maps over a list (missing items dropped). */
export function selectPath(value: unknown, path: readonly PathSegment[]): unknown {
  let cur: unknown = value;
  for (let k = 0; k < path.length; k++) {
    const seg = path[k]!;
    if (cur === null || cur === undefined) return undefined;
    if (seg === '*') {
      if (!Array.isArray(cur)) return undefined;
      const rest = path.slice(k + 1);
      return cur.map((item) => selectPath(item, rest)).filter((x) => x !== undefined && x !== null);
    }
    if (typeof seg === 'number') {
      cur = Array.isArray(cur) ? cur.at(seg) : undefined;
    } else {
      cur =
        typeof cur === 'object' && Object.hasOwn(cur as object, seg)
          ? (cur as Record<string, unknown>)[seg]
          : undefined;
    }
  }
  return cur;
}
