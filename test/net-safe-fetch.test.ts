import type { LookupAddress } from 'node:dns';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkAddress, isPrivateAddress } from '../src/net/address-policy.ts';
import type { Resolver } from '../src/net/checked-lookup.ts';
import { OutboundNetworkError, OutboundRefusedError } from '../src/net/outbound-error.ts';
import { safeFetch } from '../src/net/safe-fetch.ts';

/** A resolver stub: name -> the answers of successive lookups (the last one repeats). */
function stubResolver(answers: Record<string, string[]>) {
  const calls: string[] = [];
  const resolver: Resolver = async (host) => {
    calls.push(host);
    const list = answers[host];
    if (!list) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    const n = calls.filter((c) => c === host).length;
    const address = list[Math.min(n, list.length) - 1]!;
    return [{ address, family: address.includes(':') ? 6 : 4 } satisfies LookupAddress];
  };
  return { resolver, calls };
}

interface Seen {
  path: string;
  headers: IncomingHttpHeaders;
}

async function listen(
  handler: Parameters<typeof createServer>[1],
): Promise<{ server: Server; port: number }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port };
}

describe('address policy', () => {
  it('refuses every internal range, metadata endpoints and IPv4 carried in IPv6', () => {
    const refused = [
      '10.1.2.3',
      '172.16.0.1',
      '192.168.1.1',
      '127.0.0.1',
      '127.9.9.9',
      '0.0.0.0',
      '169.254.169.254',
      '100.64.0.1',
      '100.100.100.200',
      '192.0.0.192',
      '224.0.0.1',
      '255.255.255.255',
      '198.18.0.1',
      '::',
      '::1',
      '::ffff:127.0.0.1',
      '::ffff:7f00:1',
      '::ffff:a9fe:a9fe',
      '64:ff9b::a9fe:a9fe',
      '2002:a00:1::1',
      '2001:0:4136:e378:8000:63bf:3fff:fdd2',
      'fd00:ec2::254',
      'fc00::1',
      'fe80::1',
      'fe80::1%eth0',
      'ff02::1',
      'not-an-ip',
    ];
    for (const ip of refused) expect([ip, isPrivateAddress(ip)]).toEqual([ip, true]);
    for (const ip of [
      '8.8.8.8',
      '93.184.216.34',
      '2606:4700:4700::1111',
      '::ffff:8.8.8.8',
      '64:ff9b::808:808',
    ])
      expect([ip, isPrivateAddress(ip)]).toEqual([ip, false]);
    expect(checkAddress('169.254.169.254').reason).toMatch(/metadata/);
  });

  it('the loopback opt-in admits 127/8 and ::1 only', () => {
    for (const ip of ['127.0.0.1', '::1', '::ffff:127.0.0.1'])
      expect(checkAddress(ip, { allowLoopback: true }).allowed).toBe(true);
    for (const ip of ['10.0.0.1', '169.254.169.254', 'fd00:ec2::254', '0.0.0.0', '::ffff:10.0.0.1'])
      expect(checkAddress(ip, { allowLoopback: true }).allowed).toBe(false);
  });
});

describe('safeFetch', () => {
  const seen: Seen[] = [];
  let a: { server: Server; port: number };
  let b: { server: Server; port: number };
  beforeAll(async () => {
    a = await listen((req, res) => {
      seen.push({ path: req.url ?? '', headers: req.headers });
      const url = new URL(req.url ?? '/', 'http://x');
      const to = url.searchParams.get('to');
      if (to) return void res.writeHead(Number(url.searchParams.get('code') ?? 302), { location: to }).end();
      if (url.pathname === '/big') return void res.end(Buffer.alloc(2 * 1024 * 1024, 'a'));
      if (url.pathname === '/bomb') {
        res.writeHead(200, { 'content-encoding': 'gzip', 'content-type': 'text/plain' });
        return void res.end(gzipSync(Buffer.alloc(20 * 1024 * 1024, 'a')));
      }
      if (url.pathname === '/slow') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        const t = setInterval(() => res.write('.'), 100);
        res.on('close', () => clearInterval(t));
        return;
      }
      res.setHeader('content-type', 'text/plain; charset=utf-8');
      res.end(`hello from ${url.pathname}`);
    });
    b = await listen((req, res) => {
      seen.push({ path: `b:${req.url}`, headers: req.headers });
      res.end('b');
    });
  });
  afterAll(async () => {
    await new Promise<void>((r) => a.server.close(() => r()));
    await new Promise<void>((r) => b.server.close(() => r()));
  });
  const count = (prefix: string) => seen.filter((s) => s.path.startsWith(prefix)).length;

  it('refuses loopback unless the caller opts in, and never connects', async () => {
    const before = seen.length;
    for (const host of ['127.0.0.1', '[::ffff:7f00:1]'])
      await expect(safeFetch(`http://${host}:${a.port}/x`)).rejects.toMatchObject({ reason: 'address' });
    expect(seen.length).toBe(before);
    const ok = await safeFetch(`http://127.0.0.1:${a.port}/x`, { allowLoopback: true });
    expect([ok.status, ok.text(), ok.address]).toEqual([200, 'hello from /x', '127.0.0.1']);
  });

  it('refuses a name that resolves to a private or metadata address', async () => {
    const { resolver } = stubResolver({ 'lan.example': ['10.0.0.7'], 'md.example': ['169.254.169.254'] });
    await expect(safeFetch('http://lan.example/', { resolver })).rejects.toThrow(
      /lan\.example resolves to 10\.0\.0\.7 \(private\)/,
    );
    await expect(safeFetch('http://md.example/', { resolver, allowLoopback: true })).rejects.toBeInstanceOf(
      OutboundRefusedError,
    );
  });

  it('checks every redirect hop: a redirect to a private or metadata address is refused', async () => {
    const { resolver } = stubResolver({ 'public.test': ['127.0.0.1'], 'metadata.test': ['169.254.169.254'] });
    const start = `http://public.test:${a.port}`;
    for (const to of [
      'http://169.254.169.254/latest/meta-data/',
      'http://metadata.test/latest',
      'http://10.0.0.1/',
    ]) {
      await expect(
        safeFetch(`${start}/r?to=${encodeURIComponent(to)}`, { resolver, allowLoopback: true }),
      ).rejects.toMatchObject({ reason: 'address' });
    }
    // to a file: URL, too
    await expect(
      safeFetch(`${start}/r?to=${encodeURIComponent('file:///etc/passwd')}`, {
        resolver,
        allowLoopback: true,
      }),
    ).rejects.toMatchObject({ reason: 'scheme' });
  });

  it('pins the checked address: a rebinding name cannot steer the connection, and the next hop is checked anew', async () => {
    // First lookup public (loopback admitted here as the "public" server), every later one private.
    const { resolver, calls } = stubResolver({ 'rebind.test': ['127.0.0.1', '10.0.0.1'] });
    const res = await safeFetch(`http://rebind.test:${a.port}/pinned`, { resolver, allowLoopback: true });
    expect([res.status, res.address, calls]).toEqual([200, '127.0.0.1', ['rebind.test']]);
    expect(seen.at(-1)?.headers.host).toBe(`rebind.test:${a.port}`);
    const hop = `http://rebind.test:${a.port}/second`;
    await expect(
      safeFetch(`http://127.0.0.1:${a.port}/r?to=${encodeURIComponent(hop)}`, {
        resolver,
        allowLoopback: true,
      }),
    ).rejects.toThrow(/rebind\.test resolves to 10\.0\.0\.1/);
    expect(seen.some((s) => s.path === '/second')).toBe(false);
  });

  it('drops credentials and custom headers on a cross-origin redirect, keeps them on the same origin', async () => {
    const { resolver } = stubResolver({ 'a.test': ['127.0.0.1'], 'b.test': ['127.0.0.1'] });
    const headers = { authorization: 'Bearer sk_TEST_123', 'x-api-key': 'k_TEST', accept: 'text/plain' };
    const same = `http://a.test:${a.port}/same`;
    await safeFetch(`http://a.test:${a.port}/r?to=${encodeURIComponent(same)}`, {
      resolver,
      allowLoopback: true,
      headers,
    });
    const landed = seen.find((s) => s.path === '/same')!;
    expect([landed.headers.authorization, landed.headers['x-api-key']]).toEqual([
      'Bearer sk_TEST_123',
      'k_TEST',
    ]);
    const other = `http://b.test:${b.port}/other`;
    const res = await safeFetch(`http://a.test:${a.port}/r?code=307&to=${encodeURIComponent(other)}`, {
      resolver,
      allowLoopback: true,
      headers,
      method: 'POST',
      body: '{"q":1}',
    });
    expect(res.text()).toBe('b');
    expect(res.redirects).toEqual([`http://a.test:${a.port}/r?code=307&to=${encodeURIComponent(other)}`]);
    const crossed = seen.find((s) => s.path === 'b:/other')!;
    expect(crossed.headers.authorization).toBeUndefined();
    expect(crossed.headers['x-api-key']).toBeUndefined();
    expect(crossed.headers.accept).toBe('text/plain');
  });

  it('caps the body size, also after decompression', async () => {
    const opts = { allowLoopback: true, maxBytes: 1024 * 1024 };
    await expect(safeFetch(`http://127.0.0.1:${a.port}/big`, opts)).rejects.toMatchObject({
      reason: 'too_large',
    });
    await expect(safeFetch(`http://127.0.0.1:${a.port}/bomb`, opts)).rejects.toMatchObject({
      reason: 'too_large',
    });
    const small = await safeFetch(`http://127.0.0.1:${a.port}/big`, { allowLoopback: true });
    expect(small.body.length).toBe(2 * 1024 * 1024);
  });

  it('caps the time of the whole exchange: a body that trickles forever times out', async () => {
    const err = await safeFetch(`http://127.0.0.1:${a.port}/slow`, {
      allowLoopback: true,
      timeoutMs: 600,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OutboundNetworkError);
    expect(err).toMatchObject({ reason: 'timeout', errorClass: 'retryable' });
  }, 20_000);

  it('refuses other schemes, URLs with credentials, and too many redirects; a dead name is unknown_host', async () => {
    await expect(safeFetch('file:///etc/passwd')).rejects.toMatchObject({ reason: 'scheme' });
    await expect(safeFetch('gopher://x.example/')).rejects.toMatchObject({ reason: 'scheme' });
    await expect(safeFetch('http://user:pw@x.example/')).rejects.toMatchObject({ reason: 'credentials' });
    const loop = `http://127.0.0.1:${a.port}/r?to=${encodeURIComponent('/r?to=/r%3Fto%3D/x')}`;
    await expect(safeFetch(loop, { allowLoopback: true, maxRedirects: 1 })).rejects.toMatchObject({
      reason: 'redirects',
    });
    const { resolver } = stubResolver({});
    await expect(safeFetch('http://no-such-domain.example/', { resolver })).rejects.toMatchObject({
      reason: 'unknown_host',
    });
    expect(count('b:')).toBeGreaterThan(0);
  });
});

describe('the loopback opt-in', () => {
  it('is set in code by the sandbox only: no other source file and no environment variable reaches it', async () => {
    const { readdirSync, readFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const root = new URL('../src/', import.meta.url).pathname;
    const offenders: string[] = [];
    const walk = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (p.endsWith('.ts')) {
          // Code only: doc comments may show the option.
          const code = readFileSync(p, 'utf8')
            .replace(/\/\*[\s\S]*?\*\//g, '')
            .replace(/^\s*\/\/.*$/gm, '');
          if (/allowLoopback:\s*true/.test(code)) offenders.push(p);
        }
      }
    };
    walk(root);
    expect(offenders.map((p) => p.slice(root.length)).filter((p) => !/^(sandbox|demo)\//.test(p))).toEqual(
      [],
    );
    expect(readFileSync(join(root, 'config/config.ts'), 'utf8')).not.toMatch(/LOOPBACK|allowLoopback/i);
  });
});
