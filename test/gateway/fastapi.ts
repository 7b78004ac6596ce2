import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const PYTHON = '/usr/bin/python3';
const APP_DIR = fileURLToPath(new URL('./fastapi/', import.meta.url));

/** The incident's FastAPI app on uvicorn, port 0, with its sleeps scaled. */
export interface FastApiApp {
  url: string;
  close(): Promise<void>;
}

/**
 * Starts `incident_app.py` (or another `module:app` in `appDir`) with Debian's uvicorn; fails
 * with the install hint when missing.
 */
export async function startFastApi(
  timeScale: number,
  app: { module: string; dir: string } = { module: 'incident_app:app', dir: APP_DIR },
): Promise<FastApiApp> {
  if (!existsSync('/usr/lib/python3/dist-packages/fastapi/__init__.py') || !existsSync(PYTHON)) {
    throw new Error(
      'FastAPI is not installed: apt-get install python3-fastapi python3-uvicorn python3-websockets',
    );
  }
  const child: ChildProcess = spawn(
    PYTHON,
    [
      '-m',
      'uvicorn',
      app.module,
      '--app-dir',
      app.dir,
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--no-access-log',
    ],
    { env: { ...process.env, TIME_SCALE: String(timeScale) }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`uvicorn did not start within 20 s:\n${log}`)),
      20_000,
    );
    const onData = (chunk: Buffer) => {
      log += chunk;
      // uvicorn prints the port it bound when given --port 0.
      const m = /Uvicorn running on (http:\/\/127\.0\.0\.1:\d+)/.exec(log);
      if (m !== null) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`uvicorn exited with ${code}:\n${log}`));
    });
  });
  return {
    url,
    async close() {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    },
  };
}
