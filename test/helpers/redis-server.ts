import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A free TCP port on 127.0.0.1: listen on port 0, read it, close. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** Sends one command in RESP and resolves with the raw reply (or when Redis hangs up). */
export function command(port: number, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let reply = '';
    socket.on('data', (chunk) => {
      reply += chunk;
      if (reply.endsWith('\r\n')) socket.end();
    });
    socket.on('close', () => resolve(reply));
    socket.on('error', reject);
    socket.write(
      `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`,
    );
  });
}

/** A real redis-server of its own, on a free port, in a temporary directory. */
export interface TestRedis {
  readonly port: number;
  /** `redis://127.0.0.1:{port}` */
  readonly url: string;
  /**
   * Stops it: `save` writes its data first (a restart then keeps it); `crash` kills it and
   * keeps its files as they are (a restart rolls back to them); otherwise its data is lost.
   */
  stop(options?: { save?: boolean; crash?: boolean }): Promise<void>;
  /** Freezes it (SIGSTOP): connections stay open, nothing answers. */
  pause(): void;
  /** Thaws it (SIGCONT). */
  resume(): void;
  /** Starts it again on the same port and directory. */
  start(): Promise<void>;
  /** Stops it and removes its directory. */
  close(): Promise<void>;
}

const BIN = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';

/**
 * Starts redis-server on `port` with no persistence in `dir` (`extra` arguments last, so they
 * win) and resolves once it accepts connections.
 */
export function launchRedis(
  port: number,
  dir: string,
  extra: string[] = [],
): Promise<ChildProcess> {
  const child = spawn(
    BIN,
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      '--dbfilename',
      'dump.rdb',
      ...extra,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`redis-server did not start on port ${port}: ${output}`));
    }, 10_000);
    const onData = (chunk: Buffer) => {
      output += chunk;
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        child.stdout?.resume();
        resolve(child);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk;
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited with ${code}: ${output}`));
    });
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`${BIN} could not start (apt-get install redis-server): ${error.message}`));
    });
  });
}

/** Starts redis-server on a free port (never 6379) with no persistence, in a temp dir. */
export async function startRedis(options: { args?: string[] } = {}): Promise<TestRedis> {
  const args = options.args ?? [];
  const dir = mkdtempSync(join(tmpdir(), 'outlast-redis-'));
  let port = await freePort();
  let child: ChildProcess | null = null;
  for (let attempt = 0; ; attempt++) {
    try {
      child = await launchRedis(port, dir, args);
      break;
    } catch (error) {
      // The free port may have been taken between the probe and the start: take another.
      if (attempt >= 3) throw error;
      port = await freePort();
    }
  }
  const stop = async (options: { save?: boolean; crash?: boolean } = {}) => {
    const running = child;
    if (running === null || running.exitCode !== null) return;
    child = null;
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
    if (options.crash === true) {
      // A crash: whatever the files hold now (last SAVE, AOF fsynced so far) is what comes back.
      running.kill('SIGKILL');
    } else if (options.save === true) {
      // SHUTDOWN SAVE: the dump holds every write Redis answered before it, and nothing is
      // executed after it; a restart then finds exactly what clients were told was stored.
      await command(port, ['SHUTDOWN', 'SAVE']).catch(() => {});
    } else {
      rmSync(join(dir, 'dump.rdb'), { force: true });
      running.kill('SIGKILL');
    }
    await exited;
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    stop,
    pause: () => child?.kill('SIGSTOP'),
    resume: () => child?.kill('SIGCONT'),
    async start() {
      if (child !== null) return;
      child = await launchRedis(port, dir, args);
    },
    async close() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
