/** A minimal typed event emitter: no Node `events`, so it runs in browsers as is. */
export class Emitter<M> {
  private readonly listeners = new Map<keyof M, Set<(value: never) => void>>();

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof M>(type: K, listener: (value: M[K]) => void): () => void {
    let set = this.listeners.get(type);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(type, set);
    }
    set.add(listener as (value: never) => void);
    return () => this.off(type, listener);
  }

  /** Removes a listener. */
  off<K extends keyof M>(type: K, listener: (value: M[K]) => void): void {
    this.listeners.get(type)?.delete(listener as (value: never) => void);
  }

  /** Whether anyone listens to `type`. */
  has(type: keyof M): boolean {
    return (this.listeners.get(type)?.size ?? 0) > 0;
  }

  /** Calls the listeners; a listener that throws does not stop the others or the client. */
  emit<K extends keyof M>(type: K, value: M[K]): void {
    const set = this.listeners.get(type);
    if (set === undefined) return;
    for (const listener of [...set]) {
      try {
        (listener as (value: M[K]) => void)(value);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}

/** A queue read by one async iterator: events wait until the reader takes them (the connection bounds it). */
export class AsyncQueue<T> implements AsyncIterableIterator<T> {
  private readonly items: T[] = [];
  private waiting: ((r: IteratorResult<T>) => void) | null = null;
  private failWaiting: ((e: unknown) => void) | null = null;
  private done = false;
  private error: unknown = null;

  /** Items waiting for the reader. */
  get size(): number {
    return this.items.length;
  }

  push(item: T): void {
    if (this.done) return;
    if (this.waiting !== null) {
      const w = this.waiting;
      this.waiting = this.failWaiting = null;
      w({ value: item, done: false });
    } else this.items.push(item);
  }

  /** Ends the iteration after the queued items; with an error, it is thrown after them. */
  end(error: unknown = null): void {
    if (this.done) return;
    this.done = true;
    this.error = error;
    if (this.waiting !== null && this.items.length === 0) {
      const w = this.waiting;
      const f = this.failWaiting!;
      this.waiting = this.failWaiting = null;
      if (error !== null) f(error);
      else w({ value: undefined, done: true });
    }
  }

  next(): Promise<IteratorResult<T>> {
    if (this.items.length > 0) return Promise.resolve({ value: this.items.shift()!, done: false });
    if (this.done) {
      if (this.error !== null) {
        const e = this.error;
        this.error = null;
        return Promise.reject(e);
      }
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => {
      this.waiting = resolve;
      this.failWaiting = reject;
    });
  }

  return(): Promise<IteratorResult<T>> {
    this.items.length = 0;
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }
}
