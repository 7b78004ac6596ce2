import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OutlastError } from '../../errors.js';
import { hardenServer } from '../../server/harden.js';
import { createProbeHandler, type ProbeHandler } from './handler.js';
import type { ProbeServerOptions } from './options.js';

/** Options of {@link startProbeServer}. */
export interface StandaloneProbeOptions extends ProbeServerOptions {
  /** Address to listen on. @default '127.0.0.1' */
  host?: string;
  /** Port; 0 picks a free one. @default 0 */
  port?: number;
}

/** Defaults of {@link StandaloneProbeOptions} beyond the handler's. */
export const standaloneProbeDefaults = { host: '127.0.0.1', port: 0 } as const;

/** A running standalone probe server. */
export interface RunningProbeServer {
  /** `http://host:port{base}`: what `outlast probe` takes. */
  readonly url: string;
  /** The browser page, with the token in its query when there is one. */
  readonly pageUrl: string;
  /** The token clients must send, or null. */
  readonly token: string | null;
  readonly handler: ProbeHandler;
  readonly server: Server;
  close(): Promise<void>;
}

/** Whether an address only accepts local connections. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/**
 * Starts the probe endpoints on their own server (to deploy behind the real infrastructure).
 * Listening beyond loopback needs a token: one is generated when none is given.
 */
export async function startProbeServer(
  options: StandaloneProbeOptions = {},
): Promise<RunningProbeServer> {
  const host = options.host ?? standaloneProbeDefaults.host;
  const token = options.token ?? (isLoopback(host) ? null : randomBytes(16).toString('base64url'));
  const handler = createProbeHandler({ ...options, token });
  // The probe must never be the hop that cuts: Node's own clocks are switched off.
  const server = hardenServer(createServer(handler.handleNode), { keepAliveTimeoutMs: 65_000 });
  handler.attachWebSocket(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) =>
      reject(
        new OutlastError(
          'invalid-option',
          `probe server cannot listen on ${host}:${options.port ?? 0}: ${error.message}`,
          {
            cause: error,
          },
        ),
      ),
    );
    server.listen(options.port ?? standaloneProbeDefaults.port, host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  const shown = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  const url = `http://${shown}:${port}${handler.options.basePath}`;
  const query = token === null ? '' : `?token=${encodeURIComponent(token)}`;
  return {
    url,
    pageUrl: `${url}/ui${query}`,
    token,
    handler,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
