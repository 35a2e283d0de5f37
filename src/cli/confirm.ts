import { createInterface } from 'node:readline/promises';
import { ConfigError } from '../errors.ts';

/** Refused because a large selection was not confirmed: exit code 2, JSON code `confirmation_required`. */
export class ConfirmationRequiredError extends ConfigError {
  readonly jsonCode = 'confirmation_required';
  constructor(
    message: string,
    readonly details: Record<string, unknown>,
  ) {
    super(message, { exitCode: 2 });
  }
}

export interface ConfirmCheck {
  records: number;
  costUsd: number;
  thresholds: { records: number; costUsd: number };
  /** `--yes` given. */
  yes: boolean;
  /** What would be done, for the question: "run 200 accounts through golf-courses". */
  what: string;
}

/**
 * A selection larger than `thresholds` (records, or forecast cost) goes ahead only when confirmed: with
 * `--yes`, or by answering y on a terminal. Without a terminal (scripts, CI, pipes) it is refused
 * before anything is queued or spent. Returns when it may go ahead.
 */
export async function confirmLargeSelection(c: ConfirmCheck): Promise<void> {
  const overRecords = c.records > c.thresholds.records;
  const overCost = c.costUsd > c.thresholds.costUsd;
  if (c.yes || (!overRecords && !overCost)) return;
  const why = [
    overRecords ? `${c.records} records (more than ${c.thresholds.records})` : '',
    overCost ? `up to $${c.costUsd.toFixed(2)} forecast (more than $${c.thresholds.costUsd.toFixed(2)})` : '',
  ]
    .filter(Boolean)
    .join(' and ');
  if (process.stdin.isTTY && process.stderr.isTTY) {
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      const answer = await rl.question(`This would ${c.what}: ${why}. Go ahead? [y/N] `);
      if (/^y(es)?$/i.test(answer.trim())) return;
    } finally {
      rl.close();
    }
    throw new ConfirmationRequiredError('not confirmed; nothing was queued', {
      records: c.records,
      costUsd: c.costUsd,
      thresholds: c.thresholds,
    });
  }
  throw new ConfirmationRequiredError(
    `this would ${c.what}: ${why}. Nothing was queued. Check it with --dry-run, narrow it with --where, --ids or --limit, or pass --yes to go ahead ` +
      '(thresholds: SLUICE_CONFIRM_RECORDS, SLUICE_CONFIRM_USD)',
    { records: c.records, costUsd: c.costUsd, thresholds: c.thresholds },
  );
}
