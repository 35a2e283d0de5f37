import type { RemoteWrite, RowResult } from '../crm/define-destination.ts';
import { SluiceError } from '../errors.ts';

/**
 * Sends one batch and always comes back with one result per row, matched by key. A batch the
 * destination rejects as a whole (a validation error) is split in half until the bad row is alone,
 * so one bad row never holds the others back. A request that failed transiently makes every row of
 * it retryable (retried on every later sync). Infrastructure failures and bugs are thrown: they are
 * never a row's result.
 */
export async function sendBatch(
  rows: RemoteWrite[],
  write: (rows: RemoteWrite[]) => Promise<RowResult[]>,
): Promise<RowResult[]> {
  if (rows.length === 0) return [];
  let results: RowResult[];
  try {
    results = await write(rows);
  } catch (err) {
    if (!(err instanceof SluiceError)) throw err;
    if (err.errorClass === 'critical' || err.errorClass === 'not_found') {
      if (rows.length === 1) return [{ key: rows[0]!.key, status: 'permanent', error: err.message }];
      const half = Math.ceil(rows.length / 2);
      return [
        ...(await sendBatch(rows.slice(0, half), write)),
        ...(await sendBatch(rows.slice(half), write)),
      ];
    }
    if (
      err.errorClass === 'retryable' ||
      err.errorClass === 'throttled' ||
      err.errorClass === 'quota_exhausted'
    )
      return rows.map((r) => ({ key: r.key, status: 'retryable', error: err.message }));
    throw err;
  }
  // A 2xx is not success until its rows are checked: a row without a result did not happen.
  const byKey = new Map(results.map((r) => [r.key, r]));
  return rows.map(
    (r) =>
      byKey.get(r.key) ?? {
        key: r.key,
        status: 'retryable',
        error: 'the destination answered without a result for this record',
      },
  );
}
