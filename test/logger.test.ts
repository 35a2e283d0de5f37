import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createLogger, pruneLogFiles } from '../src/logger.ts';
import { registerSecret } from '../src/secrets/redact.ts';

const BIN = fileURLToPath(new URL('../bin/sluice.js', import.meta.url));

function memoryLogger(level = 'info') {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  return { log: createLogger(level, sink), lines };
}

describe('logger', () => {
  it('redacts keys, tokens and Authorization headers wherever they are in a log line', () => {
    registerSecret('sk-known-value-4242');
    const { log, lines } = memoryLogger();
    log.info(
      {
        headers: { authorization: 'Bearer abc.def', 'x-api-key': 'k-123456' },
        req: { headers: { Authorization: 'Basic Zm9vOmJhcg==' } },
        apiKey: 'k-987654',
        url: 'https://api.hunter.io/v2/domain-search?domain=a.com&api_key=qwerty123',
        note: 'the vendor echoed sk-known-value-4242 back',
      },
      'calling with Bearer tok.en.value and sk-known-value-4242',
    );
    log.error({ err: new Error('401 for https://x.io/?token=zzz999 (key sk-known-value-4242)') }, 'failed');
    const text = lines.join('\n');
    for (const secret of [
      'abc.def',
      'k-123456',
      'Zm9vOmJhcg',
      'k-987654',
      'qwerty123',
      'sk-known',
      'tok.en',
      'zzz999',
    ])
      expect(text, secret).not.toContain(secret);
    const [first, second] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(first).toMatchObject({
      level: 30,
      apiKey: '[redacted]',
      headers: { authorization: '[redacted]' },
    });
    expect(second).toMatchObject({ level: 50, err: { type: 'Error' } });
    expect(String((second!.err as { stack: string }).stack)).toContain('[redacted]');
  });

  it('keeps the level it is given', () => {
    const { log, lines } = memoryLogger('warn');
    log.info('hidden');
    log.debug('hidden');
    log.warn('shown');
    expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(['shown']);
  });

  it('deletes rolled files older than the retention, and only those', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-logs-'));
    const day = 86_400_000;
    const now = Date.now();
    const files = {
      old: 'sluice.2026-01-01.1.log',
      recent: 'sluice.2026-02-20.1.log',
      other: 'other.2026-01-01.1.log',
      unrelated: 'notes.txt',
    };
    for (const f of Object.values(files)) writeFileSync(join(dir, f), '{}\n');
    for (const f of [files.old, files.other, files.unrelated])
      utimesSync(join(dir, f), new Date(now - 40 * day), new Date(now - 40 * day));
    utimesSync(join(dir, files.recent), new Date(now - 29 * day), new Date(now - 29 * day));
    const removed = pruneLogFiles(join(dir, 'sluice.log'), 30, now);
    expect(removed.map((p) => p.slice(dir.length + 1))).toEqual([files.old]);
    expect(readdirSync(dir).sort()).toEqual([files.other, files.unrelated, files.recent].sort());
  });
});

describe('logger (CLI)', () => {
  const sluice = (env: Record<string, string>, ...args: string[]) =>
    promisify(execFile)(process.execPath, [BIN, ...args], {
      env: { ...process.env, SLUICE_DATA_DIR: mkdtempSync(join(tmpdir(), 'sluice-log-db-')), ...env },
      encoding: 'utf8',
      timeout: 60_000,
    });

  it('SLUICE_LOG_LEVEL works in a command; SLUICE_LOG_FILE sends the JSON lines to a rolled file', async () => {
    const quiet = await sluice({}, 'pipelines', 'list');
    expect(quiet.stderr).not.toContain('command started');
    const debug = await sluice({ SLUICE_LOG_LEVEL: 'debug' }, 'pipelines', 'list');
    const lines = debug.stderr.split('\n').filter((l) => l.startsWith('{'));
    expect(lines.map((l) => JSON.parse(l) as Record<string, unknown>)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ level: 20, msg: 'command started', command: 'pipelines list' }),
        expect.objectContaining({ level: 20, msg: 'command finished', command: 'pipelines list' }),
      ]),
    );
    const dir = mkdtempSync(join(tmpdir(), 'sluice-log-file-'));
    const toFile = await sluice(
      { SLUICE_LOG_LEVEL: 'debug', SLUICE_LOG_FILE: join(dir, 'logs', 'sluice.log') },
      'pipelines',
      'list',
    );
    expect(toFile.stderr).not.toContain('command started');
    const written = readdirSync(join(dir, 'logs'));
    expect(written).toHaveLength(1);
    expect(written[0]).toMatch(/^sluice\.\d{4}-\d{2}-\d{2}\.1\.log$/);
    expect(readFileSync(join(dir, 'logs', written[0]!), 'utf8')).toContain('"msg":"command finished"');
  }, 120_000);
});
