import type { AddressInfo } from 'node:net';
import { createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP relay that can cut every connection through it at a chosen moment, FIN or RST, for
 * any transport alike (SSE, WebSocket, long-polling): the cut schedule of the property test.
 */
export interface Cutter {
  /** `http://127.0.0.1:{port}` */
  origin: string;
  cutAll(how: 'fin' | 'rst'): number;
  close(): Promise<void>;
}

export async function startCutter(targetPort: number): Promise<Cutter> {
  const pairs = new Set<[Socket, Socket]>();
  const server: Server = createServer((client) => {
    const upstream = new (client.constructor as typeof Socket)();
    upstream.connect(targetPort, '127.0.0.1');
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const drop = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const cutter: Cutter = {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    cutAll(how) {
      const n = pairs.size;
      for (const [client, upstream] of [...pairs]) {
        if (how === 'rst') client.resetAndDestroy();
        else client.destroySoon();
        upstream.destroy();
      }
      pairs.clear();
      return n;
    },
    async close() {
      cutter.cutAll('rst');
      await new Promise((r) => server.close(r));
    },
  };
  return cutter;
}
