import type { ContactView, FieldWrite, StepContext, StepOutput } from '../../engine/pipeline-types.ts';
import { errorClassOf } from '../../errors.ts';
import { evaluate, parseExpression, truthy } from '../expression.ts';
import type { ForeachSpec } from '../schema.ts';
import { at } from '../spec-error.ts';
import { applyWrites, type CompiledStep, mergeForecasts, ROOTS, type Scope, scopeVars } from './runtime.ts';

/**
 * `foreach`: the child steps run for every contact of the account (including contacts found by earlier
 * steps), several contacts at once (`concurrency`, default 4). Inside one contact the children run in
 * order, each seeing the previous ones' writes. Each child result is memoized under
 * `<foreach>.<child>/<contactRef>`, so a retried run does not pay again for contacts already done.
 * When a child fails, the other contacts still finish (and are memoized) before the error is raised.
 */
export function compileForeach(
  spec: ForeachSpec,
  path: (string | number)[],
  compileChild: (child: ForeachSpec['steps'][number], path: (string | number)[]) => CompiledStep,
): CompiledStep {
  const where =
    spec.where === undefined
      ? undefined
      : at([...path, 'where'], spec.where, () => parseExpression(spec.where!, ROOTS.record));
  const children = spec.steps.map((s, i) => compileChild(s, [...path, 'steps', i]));
  const concurrency = spec.concurrency ?? 4;

  /**
   * A child that cannot succeed for this contact (bad answer, quota) yields nothing for it, like an
   * optional top-level step, so one contact's bad data never discards the others' results. A required
   * child's failure propagates (and makes the foreach step required). Throttles and the like always
   * propagate: the run is retried and memoized children are not paid for again.
   */
  async function runChild(child: CompiledStep, ctx: StepContext, scope: Scope): Promise<StepOutput> {
    try {
      return await child.run(ctx, scope);
    } catch (err) {
      const cls = errorClassOf(err);
      if (child.required || (cls !== 'critical' && cls !== 'quota_exhausted') || ctx.signal.aborted)
        throw err;
      return {
        status: 'not_found',
        writes: [],
        data: { error: `step "${child.id}" failed: ${(err as Error).message}`, errorClass: cls },
      };
    }
  }

  /**
   * `live` is the account's contact list as this step has updated it so far: a contact's child sees
   * what earlier contacts found (e.g. emails at the domain, evidence for the email-pattern inferrer).
   */
  async function forContact(ctx: StepContext, scope: Scope, live: ContactView[], index: number) {
    const contact = live[index]!;
    let current: Scope = { ...scope, contacts: live, contact };
    const writes: FieldWrite[] = [];
    const statuses: Record<string, Pick<StepOutput, 'status' | 'data'>> = {};
    const newContacts: ContactView[] = [];
    for (const child of children) {
      const out = await ctx.memo(`${spec.id}.${child.id}/${contact.ref}`, () =>
        runChild(child, ctx, current),
      );
      statuses[child.id] = out.data ? { status: out.status, data: out.data } : { status: out.status };
      writes.push(...out.writes);
      newContacts.push(...(out.newContacts ?? []));
      current = applyWrites(current, out.writes);
      live[index] = current.contact!;
      current = { ...current, contacts: live };
    }
    return { writes, statuses, newContacts };
  }

  return {
    id: spec.id,
    required: spec.required ?? children.some((c) => c.required),
    async run(ctx, scope) {
      const live = [...scope.contacts];
      const selected = live
        .map((c, i) => ({ c, i }))
        .filter(({ c }) => !where || truthy(evaluate(where, scopeVars({ ...scope, contact: c }))));
      const contacts = selected.map((x) => x.c);
      const results: Awaited<ReturnType<typeof forContact>>[] = [];
      const errors: unknown[] = [];
      let next = 0;
      const worker = async () => {
        while (next < contacts.length) {
          const i = next++;
          try {
            results[i] = await forContact(ctx, scope, live, selected[i]!.i);
          } catch (err) {
            errors.push(err);
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, contacts.length) }, worker));
      if (errors.length) throw errors[0];
      const writes = results.flatMap((r) => r.writes);
      const newContacts = results.flatMap((r) => r.newContacts);
      const data = {
        contacts: Object.fromEntries(contacts.map((c, i) => [c.ref, results[i]?.statuses ?? {}])),
      };
      if (!contacts.length) return { status: 'skipped', writes: [], data: { reason: 'no contacts' } };
      return {
        status: writes.length || newContacts.length ? 'found' : 'not_found',
        writes,
        ...(newContacts.length ? { newContacts } : {}),
        data,
      };
    },
    forecast: () =>
      mergeForecasts(
        children.map((c) => c.forecast()),
        spec.forecast_contacts ?? 3,
      ),
  };
}
