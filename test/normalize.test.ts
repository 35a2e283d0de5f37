import { describe, expect, it } from 'vitest';
import {
  companyNameKey,
  completePersonName,
  countryCode,
  normalizeDomain,
  normalizeEmail,
  normalizeLinkedInUrl,
  normalizePhone,
  normalizeWebsite,
  parseEmail,
  personNameKey,
} from '../src/normalize/index.ts';

describe('normalizeDomain', () => {
  it.each([
    ['https://www.Example.co.uk/about', 'example.co.uk'],
    ['http://EXAMPLE.com', 'example.com'],
    ['www.pebblebeach.com/', 'pebblebeach.com'],
    ['pebblebeach.com', 'pebblebeach.com'],
    ['shop.pebblebeach.com?x=1', 'pebblebeach.com'],
    ['ana@Mail.Acme.com', 'acme.com'],
    ['mailto:ana@acme.com', 'acme.com'],
    ['  ACME.COM.  ', 'acme.com'],
    ['xn--bcher-kva.de', 'bücher.de'],
    ['https://bücher.de', 'bücher.de'],
    ['https://acme.github.io/site', 'acme.github.io'],
  ])('%s → %s', (input, expected) => {
    expect(normalizeDomain(input)).toBe(expected);
  });

  it.each([
    '',
    '   ',
    'n/a',
    'localhost',
    '192.168.0.1',
    'http://10.0.0.1/x',
    'acme',
    'foo.notarealtld',
    null,
  ])('rejects %s', (input) => {
    expect(normalizeDomain(input)).toBeUndefined();
  });
});

describe('normalizeWebsite', () => {
  it('adds a scheme, lowercases the host, drops tracking and trailing slash', () => {
    expect(normalizeWebsite('WWW.Acme.com/')).toBe('https://www.acme.com');
    expect(normalizeWebsite('http://acme.com/golf?utm_source=x&id=2#top')).toBe('http://acme.com/golf?id=2');
    expect(normalizeWebsite('ana@acme.com')).toBeUndefined();
    expect(normalizeWebsite('not a site')).toBeUndefined();
  });
});

describe('email', () => {
  it('trims, lowercases and strips mailto/brackets', () => {
    expect(normalizeEmail('  Ana.Garcia@Acme.COM ')).toBe('ana.garcia@acme.com');
    expect(normalizeEmail('mailto:bob@acme.com')).toBe('bob@acme.com');
    expect(normalizeEmail('<bob+golf@acme.co.uk>')).toBe('bob+golf@acme.co.uk');
    expect(normalizeEmail('josé@bücher.de')).toBe('josé@bücher.de');
  });

  it.each([
    'ana@',
    '@acme.com',
    'ana@@acme.com',
    'ana acme.com',
    'ana@acme',
    'ana@acme.notatld',
    'a..b@acme.com',
  ])('rejects %s with a reason that quotes it', (input) => {
    const r = parseEmail(input);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toContain('invalid email');
  });

  it('treats empty as "no email"', () => {
    expect(parseEmail('  ')).toEqual({ ok: false, reason: 'empty' });
  });
});

describe('normalizePhone', () => {
  it('formats to E.164 in the default region', () => {
    expect(normalizePhone('(831) 622-8723')).toBe('+18316228723');
    expect(normalizePhone('831.622.8723')).toBe('+18316228723');
    expect(normalizePhone('+1 831 622 8723 ext. 12')).toBe('+18316228723;ext=12');
    expect(normalizePhone('+44 20 7946 0958')).toBe('+442079460958');
  });

  it('reads national numbers in the configured region', () => {
    expect(normalizePhone('020 7946 0958', 'GB')).toBe('+442079460958');
    expect(normalizePhone('020 7946 0958', 'gb')).toBe('+442079460958');
    expect(normalizePhone('020 7946 0958', 'US')).toBeUndefined();
  });

  it.each(['', 'n/a', '12', 'call me'])('rejects %s', (input) => {
    expect(normalizePhone(input)).toBeUndefined();
  });
});

describe('countryCode', () => {
  it('knows names, codes and aliases', () => {
    expect(countryCode('United Kingdom')).toBe('GB');
    expect(countryCode('uk')).toBe('GB');
    expect(countryCode('USA')).toBe('US');
    expect(countryCode('de')).toBe('DE');
    expect(countryCode('Narnia')).toBeUndefined();
  });
});

describe('names', () => {
  it('splits a full name and joins first + last, preserving unicode', () => {
    expect(completePersonName({ fullName: '  José   Núñez-García ' })).toEqual({
      firstName: 'José',
      lastName: 'Núñez-García',
      fullName: 'José Núñez-García',
    });
    expect(completePersonName({ fullName: 'García, Ana' })).toEqual({
      firstName: 'Ana',
      lastName: 'García',
      fullName: 'Ana García',
    });
    expect(completePersonName({ fullName: 'Dr. Ana María López' })).toMatchObject({
      firstName: 'Ana',
      lastName: 'María López',
    });
    expect(completePersonName({ firstName: '李', lastName: '小龙' })).toEqual({
      firstName: '李',
      lastName: '小龙',
      fullName: '李 小龙',
    });
    expect(completePersonName({ fullName: 'Cher' })).toEqual({ firstName: 'Cher', fullName: 'Cher' });
  });

  it('gives one key to one person written differently', () => {
    const a = personNameKey(completePersonName({ fullName: 'Dr. José Núñez' }));
    const b = personNameKey(completePersonName({ firstName: 'jose', lastName: 'NUNEZ' }));
    expect(a).toBe('jose nunez');
    expect(b).toBe(a);
    expect(personNameKey({})).toBeUndefined();
  });
});

describe('companyNameKey', () => {
  it('drops case, punctuation, "the" and legal suffixes', () => {
    expect(companyNameKey('The Acme Golf Co., Inc.')).toBe('acme golf');
    expect(companyNameKey('ACME GOLF L.L.C.')).toBe('acme golf');
    expect(companyNameKey('Acme Golf, LLC')).toBe('acme golf');
    expect(companyNameKey('Smith & Sons Ltd')).toBe('smith and sons');
    expect(companyNameKey('Golfclub Köln GmbH')).toBe('golfclub koln');
    expect(companyNameKey('  Pebble   Beach  ')).toBe('pebble beach');
  });

  it('keeps non-Latin names and a name that is only a suffix', () => {
    expect(companyNameKey('東京ゴルフ倶楽部')).toBe('東京ゴルフ倶楽部');
    expect(companyNameKey('Co')).toBe('co');
    expect(companyNameKey('!!!')).toBeUndefined();
    expect(companyNameKey(null)).toBeUndefined();
  });
});

describe('normalizeLinkedInUrl', () => {
  it.each([
    ['linkedin.com/in/Ana-Garcia-123/', 'https://www.linkedin.com/in/ana-garcia-123'],
    ['https://uk.linkedin.com/in/ana-garcia?trk=abc', 'https://www.linkedin.com/in/ana-garcia'],
    ['http://www.linkedin.com/company/Pebble-Beach/about/', 'https://www.linkedin.com/company/pebble-beach'],
    ['https://www.linkedin.com/in/jos%C3%A9-n', 'https://www.linkedin.com/in/jos%C3%A9-n'],
    ['www.linkedin.com/in/José-N', 'https://www.linkedin.com/in/jos%C3%A9-n'],
  ])('%s → %s', (input, expected) => {
    expect(normalizeLinkedInUrl(input)).toBe(expected);
  });

  it.each(['https://example.com/in/ana', 'https://www.linkedin.com/feed/', 'linkedin.com/in/', 'n/a'])(
    'rejects %s',
    (input) => {
      expect(normalizeLinkedInUrl(input)).toBeUndefined();
    },
  );
});
