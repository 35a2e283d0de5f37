import { CriticalError } from '../errors.ts';
import { registerSecret } from './redact.ts';

/**
 * `{{secret.NAME}}` in a pipeline: a reference to the environment variable NAME, resolved at the
 * last moment (inside the operation, after the cache key is computed), so the value never enters a
 * cache key, a stored input, a memoized step, a ledger row or an error message. A reference travels
 * as `{ secret: 'NAME' }`; a header value with references is a list of text and references.
 */
export interface SecretRef {
  secret: string;
}
export type SecretText = string | readonly (string | SecretRef)[];

/** Upper-case environment variable names only. */
export const SECRET_NAME = /^[A-Z_][A-Z0-9_]*$/;

/** Names that are configuration, not secrets a pipeline may send anywhere. */
export function secretNameProblem(name: string): string | undefined {
  if (!SECRET_NAME.test(name))
    return 'a secret name is an upper-case environment variable name such as HUNTER_API_KEY';
  if (name === 'DATABASE_URL' || name.startsWith('SLUICE_'))
    return `${name} is Sluice's own configuration; it cannot be sent in a request`;
  return undefined;
}

/** The text with every reference replaced by its value from `env`; each value is registered for redaction. */
export function resolveSecretText(
  text: SecretText,
  env: Readonly<Record<string, string | undefined>>,
  where: string,
): string {
  if (typeof text === 'string') return text;
  let out = '';
  for (const part of text) {
    if (typeof part === 'string') {
      out += part;
      continue;
    }
    const problem = secretNameProblem(part.secret);
    if (problem) throw new CriticalError(`${where}: {{secret.${part.secret}}}: ${problem}`);
    const value = env[part.secret]?.trim();
    if (!value)
      throw new CriticalError(
        `${where}: {{secret.${part.secret}}} is not set; set ${part.secret} in the environment or in .env`,
      );
    registerSecret(value);
    out += value;
  }
  return out;
}
