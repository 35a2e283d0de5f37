import type { FieldWrite, StepContext, StepOutput } from '../../engine/pipeline-types.ts';
import { httpProvider } from '../http-provider.ts';
import type { HttpSpec } from '../schema.ts';
import { at } from '../spec-error.ts';
import {
  parseHeaderTemplate,
  parseTemplateTree,
  parseUrlTemplate,
  renderHeaderTemplate,
  renderTemplateTree,
  renderUrlTemplate,
} from '../template.ts';
import { applyMapping, compileContacts, compileMapping, extractContacts } from './output-mapping.ts';
import {
  type CompiledStep,
  makeWrite,
  providerProvenance,
  ROOTS,
  type Scope,
  SKIPPED,
  scopeVars,
} from './runtime.ts';

/**
 * `http`: a templated HTTP request (like a Clay HTTP column) through the gateway's `http` provider;
 * `output` maps JSON paths of the response body (`body.data.email`, or `status`) to fields.
 * Every request crosses the outbound edge (src/net/safe-fetch.ts): internal addresses are refused,
 * redirects re-checked. Headers and the URL's query string may use `{{secret.NAME}}` (references are
 * keyed and stored, their values resolved after); headers never enter the cache key.
 */
export function compileHttp(spec: HttpSpec, path: (string | number)[], inForeach: boolean): CompiledStep {
  const url = at([...path, 'url'], spec.url, () => parseUrlTemplate(spec.url, ROOTS.record));
  const headers = Object.entries(spec.headers ?? {}).map(
    ([k, v]) => [k, at([...path, 'headers', k], v, () => parseHeaderTemplate(v, ROOTS.record))] as const,
  );
  const body =
    spec.body === undefined
      ? undefined
      : at([...path, 'body'], JSON.stringify(spec.body), () => parseTemplateTree(spec.body, ROOTS.record));
  const mappings = compileMapping(spec.output, [...path, 'output'], inForeach);
  const contacts = compileContacts(spec.contacts, [...path, 'contacts']);
  const operation = 'request';

  async function run(ctx: StepContext, scope: Scope): Promise<StepOutput> {
    const vars = scopeVars(scope);
    // A `{{secret.NAME}}` in the query string stays a reference, like a header's.
    const u = renderUrlTemplate(url, vars);
    if (u.missing) return SKIPPED(`the URL template ${spec.url} has an empty field`);
    const input: Record<string, unknown> = { method: spec.method, url: u.value };
    if (headers.length)
      // `{{secret.NAME}}` stays a reference here: the operation resolves it after the cache key.
      input.headers = Object.fromEntries(headers.map(([k, t]) => [k, renderHeaderTemplate(t, vars)]));
    if (body !== undefined) input.body = renderTemplateTree(body, vars);
    if (spec.timeout_ms) input.timeout_ms = spec.timeout_ms;
    const outcome = await ctx.gateway.call({ provider: httpProvider.id, operation, input }, ctx.signal);
    if (!outcome.found) return { status: 'not_found', writes: [] };
    const values = applyMapping(mappings, outcome.output, vars);
    const found = contacts ? extractContacts(contacts, outcome.output, scope.contacts) : [];
    const share = outcome.costUsd / Math.max(1, values.length);
    const writes: FieldWrite[] = values.map((v) =>
      makeWrite(scope, v.mapping.target, v.value, providerProvenance(outcome, share, v.confidence)),
    );
    return {
      status: writes.length || found.length ? 'found' : 'not_found',
      writes,
      ...(found.length ? { newContacts: found } : {}),
    };
  }

  return {
    id: spec.id,
    required: spec.required ?? false,
    run,
    forecast: () => [{ provider: httpProvider.id, operation, callsPerRecord: 1 }],
  };
}
