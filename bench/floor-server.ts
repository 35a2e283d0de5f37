/**
 * The floor under `sluice serve`'s latency (bench/api.ts `--floor`): a bare `node:http` server in a
 * process of its own, no hono, no middleware, no key check.
 * - `GET /hello`: a constant JSON body (node's HTTP stack and the loopback only);
 * - `GET /db/{id}`: the contact by id through Sluice's own database adapter (src/db, the
 *   same SQL as GET /v1/contacts/{id}), as JSON.
 * Each answer carries `Server-Timing: app;dur=<ms>` like the real server. Prints `{"port": N}` on
 * stdout once listening; DATABASE_URL and SLUICE_DB_SCHEMA as for sluice.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { openDb } from '../src/db/open-db.ts';

const db = await openDb({
  databaseUrl: process.env.DATABASE_URL,
  schema: process.env.SLUICE_DB_SCHEMA,
  migrate: false,
});
const SQL = 'SELECT * FROM contacts WHERE id = ANY($1::bigint[]) ORDER BY id';
const server = createServer((req, res) => {
  const start = performance.now();
  const send = (status: number, body: string) => {
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      'server-timing': `app;dur=${(performance.now() - start).toFixed(3)}`,
    });
    res.end(body);
  };
  if (req.url === '/hello') return send(200, '{"ok":true}');
  const m = /^\/db\/(\d+)$/.exec(req.url ?? '');
  if (!m) return send(404, '{}');
  db.query(SQL, [[Number(m[1])]]).then(
    (r) => send(r.rows[0] ? 200 : 404, JSON.stringify(r.rows[0] ?? {})),
    (err: Error) => send(500, JSON.stringify({ error: err.message })),
  );
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});
process.once('SIGTERM', () => {
  server.close();
  void db.close().then(() => process.exit(0));
});
