import { getCountries } from 'libphonenumber-js';
import { cleanText } from './text.ts';

/** English names (from Intl) and common aliases → ISO 3166 alpha-2, built once. */
const BY_NAME = (() => {
  const names = new Intl.DisplayNames(['en'], { type: 'region' });
  const map = new Map<string, string>();
  for (const code of getCountries()) {
    map.set(code.toLowerCase(), code);
    const name = names.of(code);
    if (name) map.set(name.toLowerCase(), code);
  }
  const aliases: Record<string, string> = {
    usa: 'US',
    'u.s.': 'US',
    'u.s.a.': 'US',
    'united states of america': 'US',
    america: 'US',
    uk: 'GB',
    'u.k.': 'GB',
    'great britain': 'GB',
    england: 'GB',
    scotland: 'GB',
    wales: 'GB',
    'northern ireland': 'GB',
    holland: 'NL',
    deutschland: 'DE',
    españa: 'ES',
  };
  for (const [k, v] of Object.entries(aliases)) map.set(k, v);
  return map;
})();

/** ISO 3166 alpha-2 code of a country name or code ("United Kingdom", "uk", "GB" → "GB"), if known. */
export function countryCode(input: unknown): string | undefined {
  const text = cleanText(input)?.toLowerCase();
  return text ? BY_NAME.get(text) : undefined;
}
