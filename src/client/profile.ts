import type { TransportName } from './transport.js';

/**
 * What the client has learned about the network path to one origin. Plain JSON: it is kept
 * in `localStorage` in browsers, in memory (or a file) in Node, and read back by the next
 * connection to the same origin so that it starts right.
 */
export interface PathProfile {
  /** `scheme://host:port` the profile is about. */
  origin: string;
  /** The origin speaks the outlast protocol (it announced a heartbeat or an `outlast.open`). */
  outlast: boolean;
  /** Transport to start with; `null`: the first of `transports`. */
  transport: TransportName | null;
  /** Heartbeat to ask the server for, ms (half of a learned idle clock or less). */
  heartbeatMs: number | null;
  /** `maxStream` to ask for per transport, ms (below a learned total-duration clock). */
  maxStreamMs: Partial<Record<TransportName, number>>;
  /** Learned idle clock, ms (the shortest silence that was cut). */
  idleMs: number | null;
  /** Learned total-duration clock per transport, ms. */
  totalMs: Partial<Record<TransportName, number>>;
  /** Transports not to use on this path, and why. */
  avoid: Partial<Record<TransportName, 'refused' | 'buffering'>>;
  /** The longest one connection of each transport has lived on this path, ms. */
  livedMs: Partial<Record<TransportName, number>>;
  /** What was learned and why, oldest first (at most 20 lines). */
  notes: string[];
  /** When it last changed, Unix ms. */
  updatedAt: number;
}

/** A fresh profile: nothing known. */
export function emptyProfile(origin: string): PathProfile {
  return {
    origin,
    outlast: false,
    transport: null,
    heartbeatMs: null,
    maxStreamMs: {},
    idleMs: null,
    totalMs: {},
    avoid: {},
    livedMs: {},
    notes: [],
    updatedAt: 0,
  };
}

/**
 * Lessons expire: a profile whose last lesson is older than `ttlMs` forgets what it learned
 * (transport, clocks, heartbeat, rotation, avoided transports) and keeps only that the origin
 * speaks outlast and its notes. The next connections then re-validate the path from the
 * default, and learn again what still holds, so a path that was fixed is not avoided forever.
 * Returns whether it expired (`profile` is changed in place).
 */
export function expireLessons(profile: PathProfile, nowMs: number, ttlMs: number | null): boolean {
  const learned =
    profile.transport !== null ||
    profile.heartbeatMs !== null ||
    Object.keys(profile.avoid).length > 0 ||
    Object.keys(profile.maxStreamMs).length > 0 ||
    Object.keys(profile.totalMs).length > 0 ||
    profile.idleMs !== null;
  if (ttlMs === null || !learned || nowMs - profile.updatedAt <= ttlMs) return false;
  const { origin, outlast, notes } = profile;
  Object.assign(profile, emptyProfile(origin), { outlast, notes: [...notes] });
  profile.notes.push(
    `expired: lessons older than ${Math.round(ttlMs / 60_000)} min forgotten; re-validating the path`,
  );
  if (profile.notes.length > 20) profile.notes.splice(0, profile.notes.length - 20);
  profile.updatedAt = nowMs;
  return true;
}

/** Where profiles live. Every method may be synchronous or asynchronous. */
export interface ProfileStore {
  get(origin: string): PathProfile | null | Promise<PathProfile | null>;
  set(profile: PathProfile): void | Promise<void>;
  delete(origin: string): void | Promise<void>;
}

/** Profiles in a `Map`: lost when the process ends. */
export function memoryProfileStore(): ProfileStore {
  const map = new Map<string, PathProfile>();
  return {
    get: (origin) => {
      const p = map.get(origin);
      return p === undefined ? null : structuredClone(p);
    },
    set: (profile) => void map.set(profile.origin, structuredClone(profile)),
    delete: (origin) => void map.delete(origin),
  };
}

/** The structural `Storage` the browser store needs. */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

const KEY_PREFIX = 'outlast:path:';

/** Profiles in `localStorage` (or any `Storage`), one key per origin. */
export function storageProfileStore(storage: StorageLike): ProfileStore {
  return {
    get(origin) {
      try {
        const text = storage.getItem(KEY_PREFIX + origin);
        return text === null ? null : { ...emptyProfile(origin), ...JSON.parse(text) };
      } catch {
        return null;
      }
    },
    set(profile) {
      try {
        storage.setItem(KEY_PREFIX + profile.origin, JSON.stringify(profile));
      } catch {
        // Quota or privacy mode: the profile then lives as long as the connection.
      }
    },
    delete(origin) {
      try {
        storage.removeItem(KEY_PREFIX + origin);
      } catch {
        // Nothing stored, nothing to forget.
      }
    },
  };
}

/** The process-wide memory store: every `connect()` in this process shares what it learns. */
export const sharedMemoryProfiles: ProfileStore = memoryProfileStore();

/** `localStorage` when the platform has a usable one (browsers), else the shared memory store. */
export function defaultProfileStore(): ProfileStore {
  try {
    const storage = (globalThis as { localStorage?: StorageLike }).localStorage;
    if (storage !== undefined && storage !== null) {
      const probe = `${KEY_PREFIX}probe`;
      storage.setItem(probe, '1');
      storage.removeItem(probe);
      return storageProfileStore(storage);
    }
  } catch {
    // Storage disabled (privacy settings, opaque origins).
  }
  return sharedMemoryProfiles;
}

/**
 * Profiles in a JSON file (Node only). The file module is loaded on first use, so importing
 * the client never pulls in `node:fs` and the browser bundle stays free of Node built-ins.
 */
export function fileProfileStore(path: string): ProfileStore {
  const load = () => import('./profile-file.js').then((m) => m.openProfileFile(path));
  let file: ReturnType<typeof load> | null = null;
  const get = () => {
    file ??= load();
    return file;
  };
  return {
    get: async (origin) => (await get()).get(origin),
    set: async (profile) => (await get()).set(profile),
    delete: async (origin) => (await get()).delete(origin),
  };
}

/** Reads the profile of `origin` (a URL or an origin) from a store (default: the platform's). */
export async function getPathProfile(
  url: string,
  store: ProfileStore = defaultProfileStore(),
): Promise<PathProfile | null> {
  return store.get(new URL(url).origin);
}

/** Forgets what was learned about the path to `url`'s origin. */
export async function resetPathProfile(
  url: string,
  store: ProfileStore = defaultProfileStore(),
): Promise<void> {
  await store.delete(new URL(url).origin);
}
