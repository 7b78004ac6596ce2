/**
 * Who holds a connection, for the per-address and per-identity limits: the client address
 * (as the `clientAddress` option tells it, grouped so one host counts once) and the identity
 * `authorize` answered.
 */

/** The owner of a connection slot; `null`/`undefined` parts are not counted. */
export interface ConnectionOwner {
  /** The client address, already grouped by {@link addressKey}. */
  readonly address: string | null;
  /** What `authorize` answered as `{ identity }`. */
  readonly identity: string | undefined;
  /**
   * The forwarding header the request carried when its address is the default one (the
   * peer): the peer is then likely a proxy that all its clients share.
   */
  readonly forwardedBy?: string;
}

/** Headers a proxy adds for the client it forwards; seeing one means the peer is a proxy. */
export const FORWARDING_HEADERS = [
  'x-forwarded-for',
  'forwarded',
  'x-real-ip',
  'cf-connecting-ip',
  'true-client-ip',
] as const;

/** A connection nobody is counted for (the protocol's own, tests). */
export const nobody: ConnectionOwner = { address: null, identity: undefined };

/** The eight hextets of an IPv6 address, or `null` when it is not one. */
function hextets(address: string): string[] | null {
  const halves = address.split('::');
  if (halves.length > 2) return null;
  const head = halves[0] === '' ? [] : halves[0]!.split(':');
  const tail = halves.length === 2 && halves[1] !== '' ? halves[1]!.split(':') : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const all = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail];
  return all.every((h) => /^[0-9a-f]{1,4}$/i.test(h)) ? all : null;
}

/**
 * The key an address is counted under: IPv4 as is (also when mapped into IPv6,
 * `::ffff:10.0.0.1`), IPv6 by its /64 (a host or a home gets a whole /64: counting single
 * addresses would let one client take a fresh one per connection), anything else as given.
 */
export function addressKey(address: string): string {
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  const zoneless = bare.split('%')[0]!;
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(zoneless);
  if (mapped !== null) return mapped[1]!;
  const parts = zoneless.includes(':') ? hextets(zoneless) : null;
  if (parts === null) return zoneless;
  return `${parts
    .slice(0, 4)
    .map((h) => Number.parseInt(h, 16).toString(16))
    .join(':')}::/64`;
}

/** Counts per key; a key whose count returns to 0 is forgotten (the map never grows idle). */
export class KeyCounts {
  private readonly counts = new Map<string, number>();

  /** Keys counted now. */
  get size(): number {
    return this.counts.size;
  }

  get(key: string): number {
    return this.counts.get(key) ?? 0;
  }

  add(key: string): void {
    this.counts.set(key, this.get(key) + 1);
  }

  remove(key: string): void {
    const left = this.get(key) - 1;
    if (left <= 0) this.counts.delete(key);
    else this.counts.set(key, left);
  }
}
