import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CriticalError } from '../../src/errors.ts';
import { defineProvider } from '../../src/providers/define-provider.ts';
import { createOperationContext } from '../../src/providers/http.ts';

/**
 * The provider HTTP edge follows a redirect only within the base URL's origin: fetch's own
 * `redirect: 'follow'` would re-send a header key (`x-api-key`) to whatever origin `Location` names.
 * Two real servers: the API (which redirects) and another origin (which records what reached it).
 */
const api = defineProvider({
  id: 'redir-api',
  name: 'Redirecting API',
  auth: { envVar: 'REDIR_API_KEY', required: true },
  baseUrl: 'http://127.0.0.1:1',
  applyAuth: (req, key) => ({ ...req, headers: { ...req.headers, 'x-api-key': key } }),
  limits: [],
  concurrency: 1,
  operations: {},
});
const KEY = 'k-redirect-PLANTED-123';

let apiServer: Server;
let other: Server;
const reached: IncomingHttpHeaders[] = [];
const listen = (s: Server) =>
  new Promise<string>((r) =>
    s.listen(0, '127.0.0.1', () => r(`http://127.0.0.1:${(s.address() as AddressInfo).port}`)),
  );
let apiUrl = '';
let otherUrl = '';

beforeAll(async () => {
  other = createServer((req, res) => {
    reached.push(req.headers);
    res.setHeader('content-type', 'application/json');
    res.end('{"where":"other"}');
  });
  otherUrl = await listen(other);
  apiServer = createServer((req, res) => {
    const key = req.headers['x-api-key'];
    if (req.url === '/moved') {
      res.writeHead(301, { location: '/v2/answer' }).end();
    } else if (req.url === '/away') {
      res.writeHead(302, { location: `${otherUrl}/steal` }).end();
    } else if (req.url === '/loop') {
      res.writeHead(302, { location: '/loop' }).end();
    } else {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ path: req.url, keyed: key === KEY }));
    }
  });
  apiUrl = await listen(apiServer);
});
afterAll(async () => {
  await new Promise((r) => apiServer.close(r));
  await new Promise((r) => other.close(r));
});

const ctx = () => createOperationContext(api, { env: { REDIR_API_KEY: KEY }, baseUrl: apiUrl });

it('follows a redirect within the API origin, with the key', async () => {
  const res = await ctx().request({ method: 'GET', path: '/moved' });
  expect(res.body).toEqual({ path: '/v2/answer', keyed: true });
});

it('refuses a redirect to another origin: the key never reaches it', async () => {
  const err = await ctx()
    .request({ method: 'GET', path: '/away' })
    .catch((e: unknown) => e);
  expect(err).toBeInstanceOf(CriticalError);
  expect((err as Error).message).toMatch(/redirected to http:\/\/127\.0\.0\.1:\d+: not followed/);
  expect((err as Error).message).not.toContain(KEY);
  expect(reached).toEqual([]);
});

it('stops a redirect loop', async () => {
  await expect(ctx().request({ method: 'GET', path: '/loop' })).rejects.toThrow(/more than 5 redirects/);
});
