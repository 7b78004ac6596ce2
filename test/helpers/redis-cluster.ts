import { type ChildProcess, execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { command, freePort, launchRedis } from './redis-server.js';

/*
 * A real Redis Cluster of three masters on loopback ports chosen free at run time
 * (`redis-server --cluster-enabled yes` x3, then `redis-cli --cluster create`), started and
 * stopped by the test itself, in a temporary directory.
 */

const CLI = process.env.REDIS_CLI ?? '/usr/bin/redis-cli';
const run = promisify(execFile);

export interface TestCluster {
  /** `redis://127.0.0.1:{port}` of each master. */
  readonly urls: string[];
  readonly ports: number[];
  close(): Promise<void>;
}

/** Starts three cluster-enabled masters and joins them (every slot covered) before resolving. */
export async function startCluster(): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'outlast-cluster-'));
  const ports: number[] = [];
  const children: ChildProcess[] = [];
  const close = async () => {
    await Promise.all(
      children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGKILL');
          }),
      ),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      children.push(
        await launchRedis(port, dir, [
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          `nodes-${port}.conf`,
          '--cluster-node-timeout',
          '2000',
        ]),
      );
      ports.push(port);
    }
    await run(CLI, [
      '--cluster',
      'create',
      ...ports.map((p) => `127.0.0.1:${p}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ]).catch((error: Error) => {
      throw new Error(
        `${CLI} --cluster create failed (apt-get install redis-tools): ${error.message}`,
      );
    });
    const deadline = Date.now() + 10_000;
    for (const port of ports) {
      while (!(await command(port, ['CLUSTER', 'INFO'])).includes('cluster_state:ok')) {
        if (Date.now() > deadline) throw new Error(`the cluster did not become ok on ${port}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  } catch (error) {
    await close();
    throw error;
  }
  return { ports, urls: ports.map((p) => `redis://127.0.0.1:${p}`), close };
}
