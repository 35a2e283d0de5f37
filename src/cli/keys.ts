import type { Command } from 'commander';
import { createApiKey, listApiKeys, parseScopes, revokeApiKey } from '../api-keys/api-keys.ts';
import { ConfigError } from '../errors.ts';
import { action } from './context.ts';
import { table } from './output.ts';

export function registerKeys(program: Command): void {
  const cmd = program.command('keys').description('API keys for `sluice serve` (shown once, stored hashed)');
  cmd
    .command('create')
    .description('create a key and print it (the only time it is shown)')
    .requiredOption('--name <name>', 'who or what uses it, e.g. supabase-edge')
    .option('--scopes <list>', 'read, write, admin (comma-separated; admin ⊇ write ⊇ read)', 'read,write')
    .option('--json', 'print one JSON object')
    .action(
      action(async (ctx, o: { name: string; scopes: string; json?: boolean }) => {
        const { key, apiKey } = await createApiKey(await ctx.db(), {
          name: o.name,
          scopes: parseScopes(o.scopes),
        });
        if (ctx.out.json) return ctx.out.result({ ...apiKey, key });
        ctx.out.line(key);
        ctx.out.warn(
          `key ${apiKey.id} "${apiKey.name}" (${apiKey.scopes.join(', ')}): store it now, it cannot be shown again`,
        );
      }),
    );
  cmd
    .command('list')
    .description('list keys (prefix, scopes, last use; never the key)')
    .option('--json', 'print JSON')
    .action(
      action(async (ctx, _o: { json?: boolean }) => {
        const keys = await listApiKeys(await ctx.db());
        if (ctx.out.json) return ctx.out.result(keys);
        if (keys.length === 0)
          return ctx.out.line('no API keys; create one with: sluice keys create --name NAME');
        const when = (d: Date | null) => (d ? new Date(d).toISOString().slice(0, 19).replace('T', ' ') : '-');
        ctx.out.line(
          table(
            keys.map((k) => [
              k.id,
              k.name,
              `${k.prefix}…`,
              k.scopes.join(','),
              when(k.createdAt),
              when(k.lastUsedAt),
              k.revokedAt ? `revoked ${when(k.revokedAt)}` : 'active',
            ]),
            ['id', 'name', 'prefix', 'scopes', 'created', 'last used', 'state'],
          ),
        );
      }),
    );
  cmd
    .command('revoke <id-or-name>')
    .description('revoke a key (a running server stops accepting it within 5 s)')
    .option('--json', 'print JSON')
    .action(
      action(async (ctx, _o: { json?: boolean }, idOrName: string) => {
        const revoked = await revokeApiKey(await ctx.db(), idOrName);
        if (revoked.length === 0)
          throw new ConfigError(`no active key with id or name "${idOrName}" (sluice keys list)`);
        if (ctx.out.json) return ctx.out.result(revoked);
        for (const k of revoked) ctx.out.line(`revoked key ${k.id} "${k.name}" (${k.prefix}…)`);
      }),
    );
}
