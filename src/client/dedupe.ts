/**
 * Drops events already delivered. Ids are opaque, but the outlast form `{epoch}:{seq}` lets a
 * smaller or equal seq of the same epoch be dropped without memory; a bounded window of
 * recent ids covers every other id scheme.
 */
export class Dedupe {
  private readonly recent = new Set<string>();
  private readonly order: string[] = [];
  private epoch: string | null = null;
  private seq = -1;

  constructor(private readonly window: number) {}

  /** True when `id` was seen before (the event must be dropped); records it otherwise. */
  seen(id: string): boolean {
    if (this.recent.has(id)) return true;
    const m = /^(.*):(\d{1,15})$/.exec(id);
    if (m !== null) {
      const seq = Number(m[2]);
      if (m[1] === this.epoch && seq <= this.seq) return true;
      this.epoch = m[1]!;
      this.seq = seq;
    }
    this.recent.add(id);
    this.order.push(id);
    if (this.order.length > this.window) this.recent.delete(this.order.shift()!);
    return false;
  }
}
