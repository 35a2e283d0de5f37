import { describe, expect, it } from 'vitest';
import { CriticalError } from '../../src/errors.ts';
import { extractPage } from '../../src/providers/website/extract.ts';
import { toHttpUrl } from '../../src/providers/website/index.ts';

// Hand-written, in the style of real club sites (not produced by the sandbox renderer).
const html = `<!DOCTYPE html><html><head><title> Staff &amp; Contacts – Oak Ridge Club </title>
<meta name="description" content="Oak Ridge Club, Leesburg">
<script>var x = "fake@tracking.com";</script><style>.a{}</style></head>
<body><nav><a href="/">Home</a> <a href="/about/leadership#top">Leadership</a> <a href="mailto:Info@OakRidgeClub.com?subject=Hi">Email us</a>
<a href="javascript:void(0)">Menu</a> <a href="https://www.facebook.com/oakridge">Facebook</a></nav>
<div class="team"><div class="member"><h4>Jamie O’Connor</h4><span>Director of Golf</span><br>
<a href="mailto:jamie.oconnor@oakridgeclub.com">jamie.oconnor@oakridgeclub.com</a></div>
<div class="member"><h4>Pat McAllister</h4><span>Golf Course Superintendent</span><p>Phone: 703.555.0143 ext 2</p></div></div>
<p>Pro shop: (703) 777-2121 &middot; Reservations: +1 703-777-2122</p>
<p>Logo: logo@2x.png</p></body></html>`;

describe('website extractor', () => {
  const facts = extractPage(html, 'https://www.oakridgeclub.com/staff');

  it('reads title and description with entities decoded', () => {
    expect(facts.title).toBe('Staff & Contacts – Oak Ridge Club');
    expect(facts.description).toBe('Oak Ridge Club, Leesburg');
  });

  it('resolves http(s) links against the page and skips javascript:, mailto: and fragments', () => {
    expect(facts.links.map((l) => l.url)).toEqual([
      'https://www.oakridgeclub.com/',
      'https://www.oakridgeclub.com/about/leadership',
      'https://www.facebook.com/oakridge',
    ]);
  });

  it('finds emails from mailto links and text, lowercased, ignoring scripts and image names', () => {
    expect(facts.emails.sort()).toEqual(['info@oakridgeclub.com', 'jamie.oconnor@oakridgeclub.com']);
  });

  it('finds phones in several formats as E.164', () => {
    expect(facts.phones).toEqual(expect.arrayContaining(['+17037772121', '+17037772122']));
  });

  it('pairs names with titles and the contact details that follow them', () => {
    expect(facts.staff).toEqual([
      {
        name: 'Jamie O’Connor',
        title: 'Director of Golf',
        email: 'jamie.oconnor@oakridgeclub.com',
        phone: null,
      },
      { name: 'Pat McAllister', title: 'Golf Course Superintendent', email: null, phone: '+17035550143' },
    ]);
  });

  it('refuses URLs that are not http(s) and accepts bare domains', () => {
    expect(() => toHttpUrl('file:///etc/passwd')).toThrow(CriticalError);
    expect(() => toHttpUrl('ftp://x.com')).toThrow(/only http\(s\)/);
    expect(toHttpUrl('oakridgeclub.com').href).toBe('https://oakridgeclub.com/');
  });
});

describe('website fetcher', () => {
  it('a domain that does not resolve is "not found", not a retryable failure', async () => {
    const { website } = await import('../../src/providers/website/index.ts');
    const { createOperationContext } = await import('../../src/providers/http.ts');
    const ctx = createOperationContext(website, {
      env: {},
      fetch: () =>
        Promise.reject(
          new TypeError('fetch failed', {
            cause: Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' }),
          }),
        ),
    });
    const op = website.operations['fetch-page'];
    const err = await op.run(ctx, { url: 'dead-course.com' }).catch((e: Error) => e);
    expect((err as Error).name).toBe('NotFoundError');
    expect((err as Error).message).toContain('dead-course.com does not resolve');
  });
});
