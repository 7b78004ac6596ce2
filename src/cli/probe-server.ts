import { OutlastError } from '../errors.js';
import { startProbeServer } from '../probe/index.js';
import { readArgs } from './args.js';
import type { CliCommand, CliContext } from './command.js';
import { parseDuration } from './duration.js';

const usage = `Usage: outlast probe-server [--host H] [--port N] [--token T] [--max-hold D]

Serves the probe endpoints for \`outlast probe\` (deploy it behind the infrastructure to
measure), and a browser page at /outlast-probe/ui that runs the probe from the browser.

Options:
  --host H        address to listen on (default 127.0.0.1)
  --port N        port (default 0: a free one)
  --token T       token every request must carry; beyond loopback one is required, and
                  generated when not given (printed at start)
  --max-hold D    longest hold of any endpoint (default 15m)

Prints "outlast probe-server listening on URL" once ready; SIGINT or SIGTERM closes it.
`;

async function run(context: CliContext): Promise<number> {
  const { argv, stdout, signal } = context;
  let host = '127.0.0.1';
  let port = 0;
  let token: string | null = null;
  let maxHoldMs: number | undefined;
  for (const { name, value } of readArgs(argv, {
    values: ['host', 'port', 'token', 'max-hold'],
  })) {
    if (name === 'host') host = value;
    else if (name === 'port') {
      if (!/^\d+$/.test(value) || Number(value) > 65_535)
        throw new OutlastError('invalid-option', `--port "${value}" must be 0-65535`);
      port = Number(value);
    } else if (name === 'token') {
      if (value.trim() === '') {
        throw new OutlastError(
          'invalid-option',
          '--token must not be empty (leave it out on loopback; beyond it one is generated)',
        );
      }
      token = value;
    } else if (name === 'max-hold') maxHoldMs = parseDuration(value, '--max-hold');
  }
  const server = await startProbeServer({
    host,
    port,
    token,
    ...(maxHoldMs === undefined ? {} : { maxHoldMs }),
  });
  stdout.write(`outlast probe-server listening on ${server.url}\n`);
  if (server.token !== null)
    stdout.write(
      `  token: ${server.token} (clients send ?token=... or Authorization: Bearer ...)\n`,
    );
  stdout.write(`  browser page: ${server.pageUrl}\n`);
  stdout.write(
    `  probe it: outlast probe ${server.url}${server.token === null ? '' : ` --token ${server.token}`}\n`,
  );
  await new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
  await server.close();
  stdout.write('outlast probe-server closed\n');
  return 0;
}

/** `outlast probe-server`: the probe endpoints on their own server. */
export const probeServerCommand: CliCommand = {
  name: 'probe-server',
  summary:
    'serve the probe endpoints (and a browser probe page) to deploy behind real infrastructure',
  usage,
  run,
};
