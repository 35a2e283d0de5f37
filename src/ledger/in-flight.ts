/**
 * The attempt rows (call_attempts) whose calls are running in this process right now, whichever
 * gateway made them. The lease keeper of each gateway renews exactly these (src/gateway/lease.ts),
 * and the reaper never settles one of them (src/ledger/reaper.ts); a row of this process that is not
 * here was left behind by a call that ended without recording (the database was unreachable for
 * longer than the call waited), so once its lease lapses the reaper settles it like a dead owner's.
 */
const running = new Map<number, number>();

export const attemptsInFlight = {
  add(id: number): void {
    running.set(id, (running.get(id) ?? 0) + 1);
  },
  delete(id: number): void {
    const n = (running.get(id) ?? 0) - 1;
    if (n > 0) running.set(id, n);
    else running.delete(id);
  },
  has(id: number): boolean {
    return running.has(id);
  },
};
