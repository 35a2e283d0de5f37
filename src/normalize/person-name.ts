import { cleanText, foldKey } from './text.ts';

export interface PersonName {
  firstName?: string;
  lastName?: string;
  fullName?: string;
}

const HONORIFICS = new Set(['mr', 'mrs', 'ms', 'miss', 'mx', 'dr', 'prof']);

/**
 * Completes a person's name from whatever the source gave: a full name is split into first/last
 * ("Last, First" understood; an honorific such as "Dr." is not a first name), first + last are joined
 * into a full name. Unicode is preserved; only whitespace is cleaned.
 */
export function completePersonName(input: {
  firstName?: unknown;
  lastName?: unknown;
  fullName?: unknown;
}): PersonName {
  let firstName = cleanText(input.firstName);
  let lastName = cleanText(input.lastName);
  let fullName = cleanText(input.fullName);
  if (fullName && !firstName && !lastName) {
    const split = splitFullName(fullName);
    firstName = split.firstName;
    lastName = split.lastName;
    if (fullName.includes(',') && firstName && lastName) fullName = `${firstName} ${lastName}`;
  }
  if (!fullName && (firstName || lastName)) fullName = [firstName, lastName].filter(Boolean).join(' ');
  const out: PersonName = {};
  if (firstName) out.firstName = firstName;
  if (lastName) out.lastName = lastName;
  if (fullName) out.fullName = fullName;
  return out;
}

/** "Ana María García" → first "Ana", last "María García"; "García, Ana" → first "Ana", last "García". */
export function splitFullName(fullName: string): { firstName?: string; lastName?: string } {
  const clean = cleanText(fullName);
  if (!clean) return {};
  const comma = clean.split(',').map((s) => s.trim());
  if (comma.length === 2 && comma[0] && comma[1] && !/^(jr|sr|ii|iii|iv|phd|md)\.?$/i.test(comma[1])) {
    return { firstName: comma[1], lastName: comma[0] };
  }
  const words = clean.split(' ');
  while (words.length > 1 && HONORIFICS.has(words[0]!.toLowerCase().replace(/\.$/, ''))) words.shift();
  const [first, ...rest] = words;
  return rest.length > 0 ? { firstName: first, lastName: rest.join(' ') } : { firstName: first };
}

/**
 * Dedupe key of a person's name (used with the account: same key at the same account = same person):
 * folded first + last name, else the full name. Undefined when there is no name.
 */
export function personNameKey(name: PersonName): string | undefined {
  // first + last when known, so "Dr. Ana García" and first "Ana" / last "Garcia" match
  const parts = name.firstName || name.lastName ? [name.firstName, name.lastName] : [name.fullName];
  const key = foldKey(parts.filter(Boolean).join(' '));
  return key === '' ? undefined : key;
}
