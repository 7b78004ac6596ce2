import type { PathProfile, ProfileStore } from './profile.js';

/*
 * Node only: a JSON file holding one profile per origin. Loaded lazily by
 * `fileProfileStore`, and `node:fs` is itself imported lazily, so bundlers targeting browsers
 * keep it out of the main chunk.
 */

type Profiles = Record<string, PathProfile>;

/** Opens (or creates on first write) the profile file at `path`. */
export async function openProfileFile(path: string): Promise<ProfileStore> {
  const fs = await import('node:fs/promises');
  let cache: Profiles | null = null;
  let writing = Promise.resolve();
  const read = async (): Promise<Profiles> => {
    if (cache !== null) return cache;
    try {
      cache = JSON.parse(await fs.readFile(path, 'utf8')) as Profiles;
    } catch {
      cache = {};
    }
    return cache;
  };
  const write = (profiles: Profiles): Promise<void> => {
    // Writes are chained and atomic (temp file + rename): a crash never leaves half a file.
    writing = writing.then(async () => {
      const tmp = `${path}.${Date.now()}.tmp`;
      await fs.writeFile(tmp, JSON.stringify(profiles, null, 2));
      await fs.rename(tmp, path);
    });
    return writing;
  };
  return {
    async get(origin) {
      const p = (await read())[origin];
      return p === undefined ? null : structuredClone(p);
    },
    async set(profile) {
      const all = await read();
      all[profile.origin] = structuredClone(profile);
      await write(all);
    },
    async delete(origin) {
      const all = await read();
      delete all[origin];
      await write(all);
    },
  };
}
