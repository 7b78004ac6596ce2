import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { OutlastError } from '../errors.js';

/**
 * Checks, before any work, that a file can be written at `file` (its directory exists and is
 * writable, and it is not itself a directory). Resolves with the absolute path.
 * @throws {OutlastError} `invalid-option` naming the flag, the path and what is wrong.
 */
export async function checkOutputFile(flag: string, file: string): Promise<string> {
  const path = resolve(file);
  const dir = dirname(path);
  const info = await stat(dir).catch(() => null);
  if (info === null || !info.isDirectory()) {
    throw new OutlastError(
      'invalid-option',
      `${flag} ${path}: the directory ${dir} does not exist; create it or pick another path (nothing was run)`,
    );
  }
  if ((await stat(path).catch(() => null))?.isDirectory() === true) {
    throw new OutlastError(
      'invalid-option',
      `${flag} ${path} is a directory; give a file name, such as ${resolve(path, 'report.html')}`,
    );
  }
  try {
    await access(dir, constants.W_OK);
  } catch {
    throw new OutlastError(
      'invalid-option',
      `${flag} ${path}: the directory ${dir} is not writable; pick another path (nothing was run)`,
    );
  }
  return path;
}
