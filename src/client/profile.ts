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
  /**
   * When each lesson in force was learned or last learned again, ms of the client's clock
   * (Unix ms by default): each one expires on its own after `lessonTtlMs`.
   */
  learnedAt: Partial<Record<LessonKey, number>>;
  /** When it last changed, Unix ms. */
  updatedAt: number;
}

/**
 * One lesson of a profile, as {@link PathProfile.learnedAt} times it:
 * `avoid.{transport}` (`avoid[transport]`), `transport` (the transport to start with),
 * `heartbeat` (`heartbeatMs` and `idleMs`, an idle clock), `total.{transport}`
 * (`totalMs[transport]` and `maxStreamMs[transport]`, a total-duration clock).
 */
export type LessonKey =
  | `avoid.${TransportName}`
  | 'transport'
  | 'heartbeat'
  | `total.${TransportName}`;

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
    learnedAt: {},
    updatedAt: 0,
  };
}

/** Records that `key` was learned (or learned again) at `now`. */
export function stampLesson(profile: PathProfile, key: LessonKey, now: number): void {
  profile.learnedAt[key] = now;
}

/** The lessons a profile holds now. */
function lessonsInForce(p: PathProfile): LessonKey[] {
  const keys: LessonKey[] = [];
  for (const t of Object.keys(p.avoid) as TransportName[]) keys.push(`avoid.${t}`);
  if (p.transport !== null) keys.push('transport');
  if (p.heartbeatMs !== null || p.idleMs !== null) keys.push('heartbeat');
  const totals = new Set([...Object.keys(p.totalMs), ...Object.keys(p.maxStreamMs)]);
  for (const t of totals as Set<TransportName>) keys.push(`total.${t}`);
  return keys;
}

/** Removes one lesson from a profile. */
function forget(p: PathProfile, key: LessonKey): void {
  if (key === 'transport') p.transport = null;
  else if (key === 'heartbeat') {
    p.heartbeatMs = null;
    p.idleMs = null;
  } else {
    const [kind, t] = key.split('.') as ['avoid' | 'total', TransportName];
    if (kind === 'avoid') delete p.avoid[t];
    else {
      delete p.totalMs[t];
      delete p.maxStreamMs[t];
    }
  }
  delete p.learnedAt[key];
}

/**
 * A stored profile in today's shape. Profiles saved by older versions lack fields (they
 * get their empty value) and the time of each lesson: those lessons are taken to date from
 * the profile's `updatedAt`, the last time anything was learned, so they expire no later
 * than the old per-profile rule made them.
 */
export function upgradeProfile(stored: Partial<PathProfile>, origin: string): PathProfile {
  const empty = emptyProfile(origin);
  const p: PathProfile = { ...empty, ...stored, origin };
  for (const field of ['maxStreamMs', 'totalMs', 'avoid', 'livedMs', 'learnedAt'] as const) {
    const v = p[field];
    (p as unknown as Record<string, unknown>)[field] =
      typeof v === 'object' && v !== null && !Array.isArray(v) ? { ...v } : {};
  }
  p.notes = Array.isArray(p.notes) ? [...p.notes] : [];
  if (typeof p.updatedAt !== 'number') p.updatedAt = 0;
  for (const key of lessonsInForce(p)) {
    if (typeof p.learnedAt[key] !== 'number') p.learnedAt[key] = p.updatedAt;
  }
  return p;
}

/**
 * Lessons expire one by one: each lesson (see {@link LessonKey}) learned or last learned
 * again more than `ttlMs` ago is forgotten, with an `expired: ...` note, while younger ones
 * and the outlast flag stay. The next connections then re-validate the path: the client
 * tries the transport the lesson avoided again, and learns it again (with a fresh time) if
 * the hop still does what it did, so a path that was fixed is not avoided forever.
 * `nowMs` is the client's clock. Returns whether a lesson expired (`profile` is changed in
 * place).
 */
export function expireLessons(profile: PathProfile, nowMs: number, ttlMs: number | null): boolean {
  if (ttlMs === null) return false;
  const expired: string[] = [];
  for (const key of lessonsInForce(profile)) {
    const at = profile.learnedAt[key] ?? profile.updatedAt;
    // A time further ahead than the TTL is a clock that jumped back since: it expires too,
    // rather than hold the lesson for as long as the jump.
    if (Math.abs(nowMs - at) <= ttlMs) continue;
    expired.push(key);
    forget(profile, key);
  }
  // A time left over for a lesson no longer in force.
  const inForce = lessonsInForce(profile);
  for (const key of Object.keys(profile.learnedAt) as LessonKey[]) {
    if (!inForce.includes(key)) delete profile.learnedAt[key];
  }
  if (expired.length === 0) return false;
  profile.notes.push(
    `expired: ${expired.join(', ')} learned over ${formatTtl(ttlMs)} ago forgotten; re-validating the path`,
  );
  if (profile.notes.length > 20) profile.notes.splice(0, profile.notes.length - 20);
  profile.updatedAt = nowMs;
  return true;
}

function formatTtl(ms: number): string {
  if (ms >= 3_600_000) return `${+(ms / 3_600_000).toFixed(1)} h`;
  if (ms >= 60_000) return `${+(ms / 60_000).toFixed(1)} min`;
  return `${ms} ms`;
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
        return text === null ? null : upgradeProfile(JSON.parse(text), origin);
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
  const origin = new URL(url).origin;
  const stored = await store.get(origin);
  return stored === null ? null : upgradeProfile(stored, origin);
}

/** Forgets what was learned about the path to `url`'s origin. */
export async function resetPathProfile(
  url: string,
  store: ProfileStore = defaultProfileStore(),
): Promise<void> {
  await store.delete(new URL(url).origin);
}
