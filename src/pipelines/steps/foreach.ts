import type {
  ContactView,
  FieldWrite,
  StepContext,
  StepError,
  StepOutput,
} from '../../engine/pipeline-types.ts';
import { errorClassOf, isCallFailure } from '../../errors.ts';
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
   * A child whose call fails for good (bad answer, quota, retries used up on the run's last attempt)
   * yields a `failed` output for this contact: memoized, so it is not paid again by a retry of the run,
   * and removed by a redrive. It never discards the other contacts' results. A required child's failure
   * propagates (and makes the foreach step required). Infrastructure errors, throttles, budget and
   * retryable errors before the last attempt propagate too: the run comes back later, and the children
   * memoized meanwhile are replayed, not paid again.
   */
  async function runChild(child: CompiledStep, ctx: StepContext, scope: Scope): Promise<StepOutput> {
    try {
      const out = await child.run(ctx, scope);
      // A failed child's errors name the child inside this foreach and the contact (as memoized).
      if (out.status !== 'failed' || !scope.contact) return out;
      const errors = childErrors(out, `${spec.id}.${child.id}`, scope.contact.ref);
      return { ...out, data: { ...out.data, errors } };
    } catch (err) {
      if (child.required || !isCallFailure(err, ctx.finalAttempt ?? false) || ctx.signal.aborted) throw err;
      const error: StepError = {
        step: `${spec.id}.${child.id}`,
        ...(scope.contact ? { contact: scope.contact.ref } : {}),
        errorClass: errorClassOf(err),
        message: (err as Error).message,
      };
      return { status: 'failed', writes: [], data: { errors: [error] } };
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
    const errors: StepError[] = [];
    for (const child of children) {
      const out = await ctx.memo(`${spec.id}.${child.id}/${contact.ref}`, () =>
        runChild(child, ctx, current),
      );
      statuses[child.id] = out.data ? { status: out.status, data: out.data } : { status: out.status };
      if (out.status === 'failed') errors.push(...childErrors(out, `${spec.id}.${child.id}`, contact.ref));
      writes.push(...out.writes);
      newContacts.push(...(out.newContacts ?? []));
      current = applyWrites(current, out.writes);
      live[index] = current.contact!;
      current = { ...current, contacts: live };
    }
    return { writes, statuses, newContacts, errors };
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
      // Every contact has finished (and its children are memoized) before the run hears of a failure.
      if (errors.length) throw mostUrgent(errors);
      const writes = results.flatMap((r) => r.writes);
      const newContacts = results.flatMap((r) => r.newContacts);
      const failed = results.flatMap((r) => r.errors);
      const data = {
        contacts: Object.fromEntries(contacts.map((c, i) => [c.ref, results[i]?.statuses ?? {}])),
        ...(failed.length ? { errors: failed } : {}),
      };
      if (!contacts.length) return { status: 'skipped', writes: [], data: { reason: 'no contacts' } };
      return {
        status: failed.length ? 'failed' : writes.length || newContacts.length ? 'found' : 'not_found',
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

/** A failed child's errors, attributed to the child step and the contact (a child may be a waterfall). */
function childErrors(out: StepOutput, step: string, contact: string): StepError[] {
  const listed = Array.isArray(out.data?.errors) ? (out.data.errors as StepError[]) : [];
  if (listed.length === 0) return [{ step, contact, errorClass: 'critical', message: 'the step failed' }];
  return listed.map((e) => ({ ...e, step, contact }));
}

/** Of several errors that send the run back, the one deciding what happens to it first. */
const URGENCY = ['budget', 'infrastructure', 'throttled', 'retryable'];
function mostUrgent(errors: unknown[]): unknown {
  const rank = (e: unknown) => {
    const i = URGENCY.indexOf(errorClassOf(e));
    return i < 0 ? URGENCY.length : i;
  };
  return errors.reduce((a, b) => (rank(b) < rank(a) ? b : a));
}
