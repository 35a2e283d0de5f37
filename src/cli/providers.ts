import type { Command } from 'commander';
import { CriticalError, SluiceError } from '../errors.ts';
import { createOperationContext, resolveApiKey, resolveBaseUrl } from '../providers/http.ts';
import { LLM_VENDORS, llm } from '../providers/llm/index.ts';
import { getProvider, providers } from '../providers/registry.ts';
import { startSandbox } from '../sandbox/start-sandbox.ts';
import { action } from './context.ts';
import { table } from './output.ts';

const limitsText = (limits: { limit: number; windowMs: number; label?: string }[]) =>
  limits.map((l) => l.label ?? `${l.limit}/${l.windowMs}ms`).join(' + ') || '-';

export function registerProviders(program: Command): void {
  const cmd = program
    .command('providers')
    .description('list the providers Sluice can call and check their keys');

  cmd
    .command('list')
    .description('providers with their operations, key variable, base URL, limits and prices')
    .option('--json', 'print one JSON object')
    .action(
      action(async (ctx, _options: { json?: boolean }) => {
        const env = ctx.config.env;
        const rows = providers.map((p) => ({
          id: p.id,
          name: p.name,
          key: p.auth
            ? { env: p.auth.envVar, required: p.auth.required, set: resolveApiKey(p, env) !== undefined }
            : null,
          base_url: resolveBaseUrl(p, env) || '(direct)',
          limits: p.limits.map((l) => l.label ?? `${l.limit}/${l.windowMs}ms`),
          operations: Object.entries(p.operations).map(([id, op]) => ({
            id,
            description: op.description,
            price_usd: op.priceUsd,
            limits: (op.limits ?? []).map((l) => l.label ?? `${l.limit}/${l.windowMs}ms`),
          })),
        }));
        if (ctx.out.json) return ctx.out.result({ providers: rows });
        ctx.out.line(
          table(
            providers.flatMap((p) =>
              Object.entries(p.operations).map(([opId, op], i) => [
                i === 0 ? p.id : '',
                opId,
                i === 0
                  ? p.auth
                    ? `${p.auth.envVar} ${resolveApiKey(p, env) ? '(set)' : p.auth.required ? '(MISSING)' : '(optional)'}`
                    : 'none needed'
                  : '',
                limitsText([...p.limits, ...(op.limits ?? [])]),
                op.priceUsd === 0 ? 'free' : `$${op.priceUsd}`,
              ]),
            ),
            ['provider', 'operation', 'key', 'limits', 'price/hit'],
          ),
        );
        ctx.out.line();
        ctx.out.line(
          'Base URLs: SLUICE_<PROVIDER>_BASE_URL overrides (e.g. SLUICE_HUNTER_BASE_URL). Prices: see docs/providers.md.',
        );
      }),
    );

  cmd
    .command('test [id]')
    .description('make one cheap call per provider (or just [id]) to check its key and base URL')
    .option('--sandbox', 'test against the local sandbox fakes instead of the real APIs')
    .option('--json', 'print one JSON object')
    .action(
      action(async (ctx, options: { json?: boolean; sandbox?: boolean }, id: string | undefined) => {
        const selected = id ? [getProvider(id)] : providers;
        const sandbox = options.sandbox
          ? await startSandbox({ fakes: { latencyScale: 0, faultRate: 0 } })
          : undefined;
        if (sandbox) ctx.out.warn('sandbox: simulated providers, no real data');
        const env = { ...ctx.config.env, ...sandbox?.env };
        const results: { id: string; ok: boolean; detail: string; ms: number }[] = [];
        try {
          for (const p of selected) {
            const started = performance.now();
            let ok = true;
            let detail: string;
            try {
              if (p.auth?.required && !resolveApiKey(p, env)) throw new Error(`${p.auth.envVar} is not set`);
              // The AI provider's keys are per vendor (no provider-level key): none set is not "ok".
              if (p.id === llm.id && !Object.values(LLM_VENDORS).some((v) => env[v.envVar]?.trim()))
                throw new Error(
                  `no AI key is set: set ${Object.values(LLM_VENDORS)
                    .map((v) => v.envVar)
                    .join(', or ')} for the models your pipelines use`,
                );
              const opCtx = createOperationContext(p, { env, timeoutMs: 15_000 });
              detail = p.probe ? await p.probe(opCtx) : 'no probe defined';
            } catch (err) {
              ok = false;
              detail =
                err instanceof SluiceError
                  ? `${err.name}: ${err.message}`
                  : err instanceof Error
                    ? err.message
                    : String(err);
            }
            results.push({ id: p.id, ok, detail, ms: Math.round(performance.now() - started) });
          }
        } finally {
          await sandbox?.stop();
        }
        if (ctx.out.json) ctx.out.result({ sandbox: Boolean(sandbox), providers: results });
        else
          ctx.out.line(
            table(
              results.map((r) => [r.id, r.ok ? 'ok' : 'FAILED', `${r.ms} ms`, r.detail]),
              ['provider', 'result', 'time', 'detail'],
            ),
          );
        const failed = results.filter((r) => !r.ok).map((r) => r.id);
        if (failed.length > 0) {
          throw new CriticalError(
            `${failed.join(', ')} failed the check; fix the key or base URL shown above`,
          );
        }
      }),
    );
}
