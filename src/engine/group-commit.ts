/**
 * Group commit: items that arrive while the previous group is being written are written together in one
 * statement or transaction, so under load the number of round trips shrinks while every caller still
 * waits until its own item is durable. If a group fails, each of its items is written alone, so one bad
 * item fails by itself and never takes the others with it.
 */
export class GroupCommit<T, R> {
  #pending: { item: T; resolve: (r: R) => void; reject: (err: unknown) => void }[] = [];
  #running = false;

  /**
   * @param commit writes a group and returns one result per item, in order.
   * @param maxGroup the most items in one group.
   */
  constructor(
    private readonly commit: (group: T[]) => Promise<R[]>,
    private readonly maxGroup: number,
  ) {}

  add(item: T): Promise<R> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ item, resolve, reject });
      if (!this.#running) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#running = true;
    try {
      while (this.#pending.length > 0) {
        await new Promise((r) => setImmediate(r)); // let the items of this tick gather
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
      }
    } finally {
      this.#running = false;
    }
  }
}
