import { ConfigError } from '../../errors.ts';
import type { ParamSpec } from '../pattern-file.ts';

/**
 * A pattern version's templates hold `${param}` placeholders for the parameters its schema declares.
 * Values are checked against their spec (type, enum) before they are put in, strings may not hold line
 * breaks or control characters (a value must not add YAML structure; the result is validated anyway),
 * and a template naming an undeclared parameter is refused rather than left half-filled.
 */
export type ParamValue = string | number | boolean;

export interface MissingParam {
  name: string;
  spec: ParamSpec;
}

const PLACEHOLDER = /\$\{([a-z][a-z0-9_]*)\}/g;

/** `k=v` pairs from the command line, as given (strings). */
export function parseParamArgs(pairs: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const i = p.indexOf('=');
    if (i <= 0) throw new ConfigError(`--param "${p}" must be name=value`, { exitCode: 2 });
    out[p.slice(0, i)] = p.slice(i + 1);
  }
  return out;
}

/** One value against its spec; `raw` strings (command line, prompt) are converted to the spec's type. */
export function coerceParam(name: string, spec: ParamSpec, raw: ParamValue): ParamValue {
  let v: ParamValue = raw;
  if (typeof raw === 'string') {
    if (spec.type === 'boolean') {
      if (!/^(true|false|yes|no)$/i.test(raw))
        throw new ConfigError(`parameter ${name} must be true or false (got "${raw}")`, { exitCode: 2 });
      v = /^(true|yes)$/i.test(raw);
    } else if (spec.type === 'number' || spec.type === 'integer') {
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(n) || (spec.type === 'integer' && !Number.isInteger(n)))
        throw new ConfigError(
          `parameter ${name} must be ${spec.type === 'integer' ? 'an integer' : 'a number'} (got "${raw}")`,
          {
            exitCode: 2,
          },
        );
      v = n;
    }
  }
  if (typeof v === 'string' && /\p{Cc}/u.test(v))
    throw new ConfigError(`parameter ${name} may not contain line breaks or control characters`, {
      exitCode: 2,
    });
  if (spec.enum && !spec.enum.some((e) => e === v))
    throw new ConfigError(`parameter ${name} must be one of ${spec.enum.join(', ')} (got "${String(v)}")`, {
      exitCode: 2,
    });
  return v;
}

/** Given values + defaults; unknown names are refused; what is still missing is returned. */
export function resolveParams(
  specs: Record<string, ParamSpec>,
  given: Record<string, ParamValue>,
): { values: Record<string, ParamValue>; missing: MissingParam[] } {
  const unknown = Object.keys(given).filter((k) => !(k in specs));
  if (unknown.length)
    throw new ConfigError(
      `unknown parameter${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} (this version takes: ${Object.keys(specs).join(', ') || 'none'})`,
      { exitCode: 2 },
    );
  const values: Record<string, ParamValue> = {};
  const missing: MissingParam[] = [];
  for (const [name, spec] of Object.entries(specs)) {
    const v = given[name] ?? spec.default;
    if (v === undefined) missing.push({ name, spec });
    else values[name] = coerceParam(name, spec, v);
  }
  return { values, missing };
}

export function renderTemplate(template: string, values: Record<string, ParamValue>, what: string): string {
  const undeclared = new Set<string>();
  const out = template.replace(PLACEHOLDER, (whole, name: string) => {
    const v = values[name];
    if (v === undefined) {
      undeclared.add(name);
      return whole;
    }
    return String(v);
  });
  if (undeclared.size)
    throw new ConfigError(
      `${what} uses \${${[...undeclared].join('}, ${')}} but the version declares no such parameter`,
      {
        exitCode: 2,
      },
    );
  return out;
}

export function describeMissing(missing: MissingParam[]): string {
  return missing
    .map(
      (m) =>
        `  ${m.name} (${m.spec.type}${m.spec.enum ? `: ${m.spec.enum.join('|')}` : ''})${m.spec.description ? `: ${m.spec.description}` : ''}`,
    )
    .join('\n');
}
