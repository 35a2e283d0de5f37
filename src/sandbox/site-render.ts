import type { Company, Person } from './world.ts';

/**
 * Renders the synthetic websites of the world: home, contact, course and staff pages as plain HTML,
 * with a few layout variants so the website extractor is exercised on more than one shape.
 */
export interface RenderedPage {
  title: string;
  html: string;
}

const esc = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** `+18045925861` -> `(804) 592-5861` (or another common US format, per company). */
export function displayPhone(e164: string, style = 0): string {
  const d = e164.replace(/^\+1/, '');
  const [a, b, c] = [d.slice(0, 3), d.slice(3, 6), d.slice(6)];
  return [`(${a}) ${b}-${c}`, `${a}-${b}-${c}`, `${a}.${b}.${c}`][style % 3]!;
}

function layout(company: Company, title: string, body: string): RenderedPage {
  const nav = [
    `<a href="/">Home</a>`,
    company.course ? `<a href="/course">The Course</a>` : `<a href="/services">Services</a>`,
    company.staffPath && company.staffPath !== '/contact'
      ? `<a href="${company.staffPath}">${company.staffPath === '/our-team' ? 'Our Team' : 'Staff'}</a>`
      : '',
    `<a href="/contact">Contact Us</a>`,
  ].join(' | ');
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<meta name="description" content="${esc(company.name)} in ${esc(company.city)}, Virginia"></head>
<body><header><h1>${esc(company.name)}</h1><nav>${nav}</nav></header>
<main>${body}</main>
<footer><p>${esc(company.address)}, ${esc(company.city)}, VA ${company.zip} &middot; ${displayPhone(company.phone, company.staffLayout)}</p>
<p>&copy; ${esc(company.name)}. <a href="https://www.facebook.com/${company.domain.replace(/\.com$/, '')}">Facebook</a></p></footer>
</body></html>`;
  return { title, html };
}

function personBlock(company: Company, p: Person): string {
  const email = p.emailOnSite ? p.email : null;
  const phone = company.showsPhones && p.phone ? displayPhone(p.phone, company.staffLayout + 1) : null;
  switch (company.staffLayout) {
    case 0:
      return `<div class="staff-card"><h3>${esc(p.fullName)}</h3><p class="title">${esc(p.title)}</p>${
        email ? `<p><a href="mailto:${email}">${email}</a></p>` : ''
      }${phone ? `<p>Direct: ${phone}</p>` : ''}</div>`;
    case 1:
      return `<tr><td>${esc(p.fullName)}</td><td>${esc(p.title)}</td><td>${email ? `<a href="mailto:${email}">Email</a>` : ''}</td><td>${phone ?? ''}</td></tr>`;
    default:
      return `<li><strong>${esc(p.fullName)}</strong>, ${esc(p.title)}${email ? ` &ndash; ${email}` : ''}${phone ? ` &ndash; ${phone}` : ''}</li>`;
  }
}

function staffList(company: Company): string {
  const listed = company.people.filter((p) => p.onStaffPage);
  const blocks = listed.map((p) => personBlock(company, p)).join('\n');
  if (company.staffLayout === 1) {
    return `<table class="staff"><tr><th>Name</th><th>Position</th><th>Email</th><th>Phone</th></tr>\n${blocks}</table>`;
  }
  if (company.staffLayout === 2) return `<ul class="staff">\n${blocks}</ul>`;
  return `<section class="staff">\n${blocks}</section>`;
}

const ONES = [
  'zero',
  'one',
  'two',
  'three',
  'four',
  'five',
  'six',
  'seven',
  'eight',
  'nine',
  'ten',
  'eleven',
  'twelve',
  'thirteen',
  'fourteen',
  'fifteen',
  'sixteen',
  'seventeen',
  'eighteen',
  'nineteen',
];
const TENS = ['', '', 'twenty', 'thirty', 'forty', 'fifty', 'sixty', 'seventy', 'eighty', 'ninety'];

/** 0–99 in words (`72` → `seventy-two`), for home pages that spell their numbers out. */
export function numberWords(n: number): string {
  if (n < 20) return ONES[n] ?? String(n);
  if (n >= 100) return String(n);
  const t = TENS[Math.floor(n / 10)]!;
  return n % 10 ? `${t}-${ONES[n % 10]}` : t;
}

function homePage(company: Company): RenderedPage {
  const c = company.course;
  const num = (n: number) => (company.siteSpellsNumbers ? numberWords(n) : String(n));
  const fee =
    company.siteFeeUsd === null
      ? 'Call the pro shop for current rates.'
      : `Green fees from $${company.siteFeeUsd}.`;
  const body = c
    ? `<p>Welcome to ${esc(company.name)}, a ${num(c.holes)}-hole, par ${num(c.par)} ${c.access} golf facility in ${esc(company.city)}, Virginia, open since ${c.yearOpened}.</p>
<p>${c.waterHazards === 0 ? 'A classic parkland layout with no water in play.' : `Water comes into play on ${num(c.waterHazards)} holes, with ponds and creeks guarding several greens.`}</p>
<p>${c.hasDrivingRange ? 'Our full-length driving range and short-game area are open daily.' : 'Warm up on our putting green before your round.'}</p>
<p>${fee} ${c.access === 'private' ? 'Membership inquiries welcome.' : 'Book a tee time online or call the pro shop.'}</p>`
    : `<p>${esc(company.name)} serves golf courses and clubs across Virginia from ${esc(company.city)}.</p>`;
  return layout(company, `${company.name} | ${company.city}, Virginia`, body);
}

function coursePage(company: Company): RenderedPage | null {
  const c = company.course;
  if (!c) return null;
  const body = `<h2>The Course</h2><table class="scorecard"><tr><td>Holes</td><td>${c.holes}</td></tr><tr><td>Par</td><td>${c.par}</td></tr>
<tr><td>Water hazards</td><td>${c.waterHazards}</td></tr>${company.siteFeeUsd === null ? '' : `<tr><td>Green fee</td><td>$${company.siteFeeUsd}</td></tr>`}
<tr><td>Driving range</td><td>${c.hasDrivingRange ? 'Yes' : 'No'}</td></tr></table>`;
  return layout(company, `The Course | ${company.name}`, body);
}

function contactPage(company: Company): RenderedPage {
  const info = `info@${company.domain}`;
  let body = `<h2>Contact Us</h2><address>${esc(company.address)}<br>${esc(company.city)}, VA ${company.zip}</address>
<p>Phone: <a href="tel:${company.phone}">${displayPhone(company.phone, company.staffLayout)}</a></p>
<p>Email: <a href="mailto:${info}">${info}</a></p>`;
  if (company.staffPath === '/contact') body += `<h2>Staff Directory</h2>${staffList(company)}`;
  return layout(company, `Contact | ${company.name}`, body);
}

/** The page at `path` of a company's website, or null (404). */
export function renderPage(company: Company, path: string): RenderedPage | null {
  if (!company.website) return null;
  const p = path.replace(/\/+$/, '') || '/';
  if (p === '/' || p === '/index.html') return homePage(company);
  if (p === '/contact') return contactPage(company);
  if (p === '/course') return coursePage(company);
  if (company.staffPath && p === company.staffPath) {
    return layout(company, `Staff | ${company.name}`, `<h2>Meet Our Staff</h2>${staffList(company)}`);
  }
  return null;
}

/** A rough HTML -> markdown conversion for the Jina fake (headings, links, list items, paragraphs). */
export function htmlToMarkdown(html: string): string {
  return html
    .replace(/<(script|style|head)[\s\S]*?<\/\1>/gi, '')
    .replace(
      /<h([1-6])[^>]*>([\s\S]*?)<\/h\1>/gi,
      (_m, n: string, t: string) => `\n${'#'.repeat(Number(n))} ${t}\n`,
    )
    .replace(/<a [^>]*href="([^"]*)"[^>]*>([\s\S]*?)<\/a>/gi, '[$2]($1)')
    .replace(/<li[^>]*>/gi, '\n- ')
    .replace(/<\/(td|th)>/gi, ' | ')
    .replace(/<(br|\/p|\/tr|\/div|\/address|\/ul|\/table|\/section)[^>]*>/gi, '\n')
    .replace(/<[^>]+>/g, '')
    .replace(/&amp;/g, '&')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&middot;/g, '·')
    .replace(/&ndash;/g, '–')
    .replace(/&copy;/g, '©')
    .replace(/[ \t]+\n/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}
