/**
 * Group commit: items that arrive while the previous group is being written are written together in one
 * statement or transaction, so under load the number of round trips shrinks while every caller still
 * waits until its own item is durable. If a group fails, each of its items is written alone, so one bad
 * item fails by itself and never takes the others with it.
 *
 * Used by the engine (memoized steps, final writes) and the gateway (each call's preflight and the
 * record of its attempts), which is why it lives with the database port and not in either layer.
 */
export class GroupCommit<T, R> {
  #pending: { item: T; resolve: (r: R) => void; reject: (err: unknown) => void }[] = [];
  #running = 0;

  /**
   * @param commit writes a group and returns one result per item, in order.
   * @param maxGroup the most items in one group.
   * @param parallel groups written at the same time (server Postgres has a pool of connections; a
   *   single-connection database gains nothing from more than 1). Default 1.
   */
  constructor(
    private readonly commit: (group: T[]) => Promise<R[]>,
    private readonly maxGroup: number,
    private readonly parallel = 1,
  ) {}

  add(item: T): Promise<R> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ item, resolve, reject });
      if (this.#running < this.parallel) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#running++;
    try {
      await new Promise((r) => setImmediate(r)); // let the items of this tick gather
      while (this.#pending.length > 0) {
        const group = this.#pending.splice(0, this.maxGroup);
        try {
          const results = await this.commit(group.map((p) => p.item));
          group.forEach((p, i) => {
            p.resolve(results[i] as R);
          });
        } catch (err) {
          if (group.length === 1) group[0]!.reject(err);
          else {
            for (const p of group) {
              try {
                p.resolve((await this.commit([p.item]))[0] as R);
              } catch (one) {
                p.reject(one);
              }
            }
          }
        }
        // The items that came in while this group was written form the next one.
        if (this.#pending.length > 0) await new Promise((r) => setImmediate(r));
      }
    } finally {
      this.#running--;
    }
  }
}

/**
 * Writes `items` with `write` in as few parts as keeps each part's keys distinct (a statement cannot
 * upsert or claim one row twice), part after part; results in the order of `items`.
 */
export async function inDistinctKeys<T extends { key: string }, R>(
  items: T[],
  write: (part: T[]) => Promise<R[]>,
): Promise<R[]> {
  const parts: { at: number[]; items: T[]; keys: Set<string> }[] = [];
  items.forEach((item, i) => {
    let part = parts.find((p) => !p.keys.has(item.key));
    if (!part) {
      part = { at: [], items: [], keys: new Set() };
      parts.push(part);
    }
    part.at.push(i);
    part.items.push(item);
    part.keys.add(item.key);
  });
  if (parts.length === 1) return write(items);
  const out = new Array<R>(items.length);
  for (const part of parts) {
    const results = await write(part.items);
    part.at.forEach((i, j) => {
      out[i] = results[j] as R;
    });
  }
  return out;
}

/** Groups in flight at once on `db`: a few on server Postgres (a pool), one on PGlite (one connection). */
export function parallelGroups(db: object): number {
  return (db as { backend?: string }).backend === 'postgres' ? 2 : 1;
}

/**
 * A group commit per database, made on first use: `write` gets parts whose keys are distinct
 * (inDistinctKeys), with as many groups in flight as the backend gains from (parallelGroups).
 */
export function groupPerDb<D extends object, T extends { key: string }, R>(
  write: (db: D, part: T[]) => Promise<R[]>,
  maxGroup: number,
): (db: D) => GroupCommit<T, R> {
  const groups = new WeakMap<D, GroupCommit<T, R>>();
  return (db) => {
    let group = groups.get(db);
    if (!group) {
      group = new GroupCommit(
        (items) => inDistinctKeys(items, (part) => write(db, part)),
        maxGroup,
        parallelGroups(db),
      );
      groups.set(db, group);
    }
    return group;
  };
}
