/** Normalization used by import today and by providers later: one function per kind of value. */
export { companyNameKey } from './company-name-key.ts';
export { countryCode } from './country.ts';
export { normalizeDomain, normalizeWebsite } from './domain.ts';
export { type EmailResult, normalizeEmail, parseEmail } from './email.ts';
export { FREE_EMAIL_DOMAINS, isFreeEmailDomain } from './free-email-domains.ts';
export { normalizeLinkedInUrl } from './linkedin.ts';
export { completePersonName, type PersonName, personNameKey, splitFullName } from './person-name.ts';
export { isPhoneRegion, normalizePhone } from './phone.ts';
export { cleanText, foldKey } from './text.ts';
