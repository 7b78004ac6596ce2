import type { Emitter } from './emitter.js';
import type { PathProfile } from './profile.js';
import type { TransportName } from './transport.js';
import type { ConnectionEvents } from './types.js';

/** Which transport the next attempt uses, and every move between them (`transport` events). */
export class TransportChoice {
  constructor(
    public current: TransportName,
    private readonly order: readonly TransportName[],
    private readonly profile: PathProfile,
    private readonly emitter: Emitter<ConnectionEvents>,
  ) {}

  /** Moves to `to` (no-op when already there), telling listeners why. */
  moveTo(to: TransportName, reason: string): void {
    if (to === this.current) return;
    this.emitter.emit('transport', { from: this.current, to, reason });
    this.current = to;
  }

  /**
   * Still on a transport this path refuses (every other one failed too): takes the first
   * usable one, or stays (and goes on with backoff) when none is left.
   */
  leaveAvoided(): void {
    if (this.profile.avoid[this.current] === undefined) return;
    const usable = this.order.find((t) => this.profile.avoid[t] === undefined);
    if (usable !== undefined) this.moveTo(usable, 'avoided on this path');
  }
}
