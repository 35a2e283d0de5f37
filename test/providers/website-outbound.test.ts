import type { LookupAddress } from 'node:dns';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotFoundError } from '../../src/errors.ts';
import type { OutboundPolicy } from '../../src/net/safe-fetch.ts';
import { createOperationContext } from '../../src/providers/http.ts';
import { website } from '../../src/providers/website/index.ts';

/** The website provider fetching directly (no proxy): every URL crosses the outbound edge. */
describe('website provider, direct fetching', () => {
  let server: Server;
  let port = 0;
  const paths: string[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      paths.push(req.url ?? '');
      if (req.url === '/moved') return void res.writeHead(301, { location: '/' }).end();
      if (req.url === '/bounce')
        return void res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
      res.setHeader('content-type', 'text/html');
      res.end(`<html><head><title>Oak Ridge Club</title></head><body>
        <a href="/staff">Our staff</a> <a href="http://intranet.oakridge.test/team">Team</a>
        <p>Call 555-0100</p></body></html>`);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const resolver = async (host: string): Promise<LookupAddress[]> => {
    const table: Record<string, string> = {
      'oakridge.test': '127.0.0.1',
      'intranet.oakridge.test': '10.1.1.1',
    };
    const address = table[host];
    if (!address) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return [{ address, family: 4 }];
  };
  const run = (op: 'fetch-page' | 'scrape-site', url: string, outbound?: OutboundPolicy) => {
    const ctx = createOperationContext(website, { env: {}, ...(outbound ? { services: { outbound } } : {}) });
    const operation = website.operations[op];
    return operation.run(ctx, operation.input.parse({ url }) as never);
  };

  it('refuses a page on an internal address unless the sandbox opted in to loopback', async () => {
    const before = paths.length;
    await expect(run('fetch-page', `http://127.0.0.1:${port}/`)).rejects.toThrow(/internal addresses/);
    await expect(run('fetch-page', `http://oakridge.test:${port}/`, { resolver })).rejects.toThrow(
      /oakridge\.test resolves to 127\.0\.0\.1/,
    );
    expect(paths.length).toBe(before);
    const page = await run('fetch-page', `http://oakridge.test:${port}/moved`, {
      resolver,
      allowLoopback: true,
    });
    expect(page).toMatchObject({
      found: true,
      output: { title: 'Oak Ridge Club', url: `http://oakridge.test:${port}/` },
    });
  });

  it('refuses a redirect to the metadata endpoint; a dead domain is not found', async () => {
    await expect(
      run('fetch-page', `http://oakridge.test:${port}/bounce`, { resolver, allowLoopback: true }),
    ).rejects.toThrow(/169\.254\.169\.254 \(link-local/);
    await expect(run('fetch-page', 'http://gone.test/', { resolver })).rejects.toBeInstanceOf(NotFoundError);
  });

  it('scrape-site skips a same-site link that resolves to a private address and keeps the rest', async () => {
    const res = await run('scrape-site', `http://oakridge.test:${port}/`, { resolver, allowLoopback: true });
    expect(res.found).toBe(true);
    const out = (res as unknown as { output: { pages: string[] } }).output;
    expect(out.pages).toEqual([`http://oakridge.test:${port}/`, `http://oakridge.test:${port}/staff`]);
  });
});
