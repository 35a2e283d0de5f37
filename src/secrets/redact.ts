/**
 * Scrubbing secrets out of text before it is printed, logged or stored. Two layers:
 * - patterns: `api_key=...` query parameters, `Bearer` tokens, passwords in URLs (`//user:pw@`);
 * - known values: every secret Sluice itself sends (provider keys, `{{secret.NAME}}` values,
 *   secret-looking environment variables) is registered here and replaced wherever it appears,
 *   whatever the text around it (an API that echoes the key in its error body, a stack trace).
 */
const known = new Set<string>();

/** Values shorter than this are not registered: replacing "1" or "true" everywhere would garble text. */
const MIN_SECRET_LENGTH = 6;

/** Environment variables whose values are secrets (provider keys, tokens, passwords, DATABASE_URL). */
export const SECRET_ENV_NAME = /(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?|AUTH)$|^DATABASE_URL$/i;

/** Remembers a secret value so `redactSecrets` removes it from any text. */
export function registerSecret(value: string | undefined): void {
  const v = value?.trim();
  if (v && v.length >= MIN_SECRET_LENGTH) known.add(v);
}

/** Registers the values of every secret-looking variable of an environment (Config.env). */
export function registerSecretsFromEnv(env: Readonly<Record<string, string | undefined>>): void {
  for (const [name, value] of Object.entries(env)) if (SECRET_ENV_NAME.test(name)) registerSecret(value);
}

/** Scrubs credentials from free text: known secret values, `api_key=...`, Bearer tokens, URL passwords. */
export function redactSecrets(text: string): string {
  let out = text;
  // Longest first, so a secret containing another is replaced whole.
  if (known.size)
    for (const v of [...known].sort((a, b) => b.length - a.length)) out = out.replaceAll(v, '[redacted]');
  return out
    .replace(/([?&](?:api_key|apikey|key|token|access_token)=)[^&\s"']+/gi, '$1[redacted]')
    .replace(/(Bearer\s+)[\w.~+/=-]+/gi, '$1[redacted]')
    .replace(/(\/\/[^:/\s@]+:)[^@/\s]+@/g, '$1[redacted]@');
}

/** `redactSecrets` over every string of a JSON-like value (objects copied, not mutated). */
export function redactDeep<T>(value: T): T {
  if (typeof value === 'string') return redactSecrets(value) as T;
  if (Array.isArray(value)) return value.map(redactDeep) as T;
  if (value && typeof value === 'object' && !(value instanceof Date))
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactDeep(v)])) as T;
  return value;
}
