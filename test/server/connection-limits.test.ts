import { get, type IncomingMessage } from 'node:http';
import { connect as netConnect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { isOutlastError } from '../../src/errors.js';
import { addressKey } from '../../src/server/client-key.js';
import { createOutlast, type Outlast, type ServerOptions } from '../../src/server/index.js';
import { connect } from '../helpers/clients.js';
import { closeIdle, sleep, startServer, type TestServer, until } from '../helpers/server.js';

/*
 * One client address or one identity cannot take every connection: past
 * maxConnectionsPerAddress / maxConnectionsPerIdentity it gets 429 with Retry-After (before
 * the upgrade, for WebSocket), other clients are still served, and every slot comes back
 * when its client leaves, however it leaves.
 */

let server: TestServer | undefined;
afterEach(async () => {
  const s = server;
  server = undefined;
  await closeIdle(s); // every test is a leak test (stats count addresses and identities too)
});

/** An SSE request from `localAddress` (a loopback address of its own): its status, and a cut. */
function sseFrom(
  s: TestServer,
  localAddress: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; res: IncomingMessage; cut(): void }> {
  return new Promise((resolve, reject) => {
    const url = new URL(`${s.base}/streams/s`);
    const req = get(
      { host: url.hostname, port: url.port, path: url.pathname, localAddress, headers },
      (res) => resolve({ status: res.statusCode ?? 0, res, cut: () => req.destroy() }),
    );
    req.on('error', reject);
  });
}

const connections = (s: TestServer) => s.outlast.connections;

async function errorOf(res: Response): Promise<{ code: string; message: string }> {
  return ((await res.json()) as { error: { code: string; message: string } }).error;
}

describe('maxConnectionsPerAddress', () => {
  it('holds per socket address; another address is still served; X-Forwarded-For changes nothing', async () => {
    server = await startServer({ maxConnectionsPerAddress: 2 });
    await server.outlast.publish('s', { data: 'a' });
    const first = await sseFrom(server, '127.0.0.1');
    // A client naming a fresh address per connection must not escape the limit.
    const second = await sseFrom(server, '127.0.0.1', { 'x-forwarded-for': '203.0.113.1' });
    const third = await sseFrom(server, '127.0.0.1', { 'x-forwarded-for': '203.0.113.2' });
    expect([first.status, second.status, third.status]).toEqual([200, 200, 429]);
    third.res.resume();
    const other = await sseFrom(server, '127.0.0.2');
    expect(other.status).toBe(200);
    expect(server.outlast.stats()).toMatchObject({ addresses: 2 });
    for (const c of [first, second, other]) c.cut();
    await until(() => connections(server!) === 0, 'every slot back');
  });

  it('counts by the clientAddress hook: per address over SSE, held polls and WebSocket', async () => {
    server = await startServer({
      maxConnectionsPerAddress: 2,
      retryAfterSeconds: 3,
      clientAddress: (request) => request.headers.get('x-client'),
    });
    await server.outlast.publish('s', { data: 'a' });
    const head = (await server.outlast.store.info('s'))!.lastId;
    const a = { headers: { 'x-client': '198.51.100.7' } };
    const sse = connect('sse', server.base, 's', a);
    const poll = connect('poll', server.base, 's', { ...a, lastEventId: head });
    await until(() => connections(server!) === 2, 'two connections of one address');
    const res = await fetch(`${server.base}/streams/s`, a);
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('3');
    const error = await errorOf(res);
    expect(error.code).toBe('too-many-address-connections');
    expect(error.message).not.toMatch(/\b2\b/);
    const ws = connect('ws', server.base, 's', a);
    expect(await ws.finished).toMatchObject({ how: 'refused', status: 429 });
    const pollMore = await fetch(
      `${server.base}/streams/s?transport=poll&wait=1000&lastEventId=${head}`,
      a,
    );
    expect(pollMore.status).toBe(429);
    await pollMore.arrayBuffer();
    // Others are served, on every transport.
    const b = { headers: { 'x-client': '198.51.100.8' } };
    const otherWs = connect('ws', server.base, 's', b);
    await otherWs.waitFor((m) => m.type === 'event');
    // No address (the hook says null): not counted, not refused.
    const anonymous = connect('sse', server.base, 's');
    await anonymous.waitFor((m) => m.type === 'event');
    expect(server.outlast.stats()).toMatchObject({ addresses: 2 });
    for (const c of [sse, poll, otherWs, anonymous]) c.cut();
  });

  it('tells the operator once when the limit counts a proxy (forwarding headers, default address)', async () => {
    const reported: unknown[] = [];
    server = await startServer({
      maxConnectionsPerAddress: 1,
      onError: (error) => reported.push(error),
    });
    await server.outlast.publish('s', { data: 'a' });
    // A client with no forwarding header refused: nothing says a proxy is in front.
    const direct = await sseFrom(server, '127.0.0.1');
    const refusedDirect = await sseFrom(server, '127.0.0.1');
    expect(refusedDirect.status).toBe(429);
    refusedDirect.res.resume();
    expect(reported).toEqual([]);
    // Behind a proxy every client arrives from the proxy's address, with a forwarding header.
    const viaProxy = { 'x-forwarded-for': '203.0.113.9' };
    const first = await sseFrom(server, '127.0.0.1', viaProxy);
    const second = await sseFrom(server, '127.0.0.1', { forwarded: 'for=203.0.113.10' });
    for (const r of [first, second]) {
      expect(r.status).toBe(429);
      r.res.resume();
    }
    expect(reported).toHaveLength(1);
    const warning = reported[0];
    expect(isOutlastError(warning) && warning.code).toBe('address-limit-behind-proxy');
    expect(String((warning as Error).message)).toMatch(
      /127\.0\.0\.1.*x-forwarded-for.*clientAddress/,
    );
    // The client's answer tells nothing of it.
    const res = await fetch(`${server.base}/streams/s`, { headers: viaProxy });
    expect((await errorOf(res)).message).not.toMatch(/proxy|clientAddress|127\.0\.0\.1/);
    direct.cut();
  });

  it('does not warn when clientAddress is set: the operator chose what to count', async () => {
    const reported: unknown[] = [];
    server = await startServer({
      maxConnectionsPerAddress: 1,
      clientAddress: (_request, peer) => peer,
      onError: (error) => reported.push(error),
    });
    await server.outlast.publish('s', { data: 'a' });
    const headers = { 'x-forwarded-for': '203.0.113.9' };
    const first = await sseFrom(server, '127.0.0.1', headers);
    const second = await sseFrom(server, '127.0.0.1', headers);
    expect([first.status, second.status]).toEqual([200, 429]);
    second.res.resume();
    expect(reported).toEqual([]);
    first.cut();
  });

  it('counts IPv6 clients by their /64', () => {
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:0db8:0001:0002:ffff:1:2:3')).toBe('2001:db8:1:2::/64');
    expect(addressKey('[2001:db8:1:2::9]')).toBe('2001:db8:1:2::/64');
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('::ffff:10.0.0.1')).toBe('10.0.0.1');
    expect(addressKey('10.0.0.1')).toBe('10.0.0.1');
    expect(addressKey('not an address')).toBe('not an address');
  });
});

describe('maxConnectionsPerIdentity', () => {
  const byUser: ServerOptions = {
    maxConnectionsPerIdentity: 2,
    clientAddress: (request) => request.headers.get('x-client'),
    authorize: (request) => ({ identity: request.headers.get('x-user') ?? 'nobody' }),
  };
  const as = (user: string, address: string) => ({
    headers: { 'x-user': user, 'x-client': address },
  });

  it('holds across addresses, over every transport; other identities are served', async () => {
    server = await startServer(byUser);
    await server.outlast.publish('s', { data: 'a' });
    const head = (await server.outlast.store.info('s'))!.lastId;
    const one = connect('sse', server.base, 's', as('u1', '192.0.2.1'));
    const two = connect('poll', server.base, 's', { ...as('u1', '192.0.2.2'), lastEventId: head });
    await until(() => connections(server!) === 2, 'two connections of u1');
    const res = await fetch(`${server.base}/streams/s`, as('u1', '192.0.2.3'));
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('5');
    expect((await errorOf(res)).code).toBe('too-many-identity-connections');
    const ws = connect('ws', server.base, 's', as('u1', '192.0.2.4'));
    expect(await ws.finished).toMatchObject({ how: 'refused', status: 429 });
    const other = connect('ws', server.base, 's', as('u2', '192.0.2.3'));
    await other.waitFor((m) => m.type === 'event');
    expect(server.outlast.stats()).toMatchObject({ identities: 2, addresses: 3 });
    one.cut();
    await until(() => connections(server!) === 2, 'u1 to leave one');
    const back = connect('ws', server.base, 's', as('u1', '192.0.2.4'));
    await back.waitFor((m) => m.type === 'event');
    for (const c of [two, other, back]) c.cut();
  });
});

describe('slots come back', () => {
  const one: ServerOptions = {
    maxConnectionsPerAddress: 1,
    maxConnectionsPerIdentity: 1,
    clientAddress: (request) => request.headers.get('x-client'),
    authorize: async (request) => {
      // Long enough for a client to leave while it runs.
      if (request.headers.get('x-slow') === '1') await sleep(150);
      return { identity: 'u' };
    },
  };
  const a = { headers: { 'x-client': '192.0.2.9' } };

  /** The one slot is free: a reader gets in and reads. */
  async function served(s: TestServer, kind: 'sse' | 'ws' | 'poll'): Promise<void> {
    await until(() => s.outlast.stats().addresses === 0, 'the address to be forgotten');
    expect(s.outlast.stats().identities).toBe(0);
    const next = connect(kind, s.base, 's', a);
    await next.waitFor((m) => m.type === 'event');
    next.cut();
  }

  it.each(['sse', 'ws', 'poll'] as const)(
    'after a %s reader leaves, or its stream ends',
    async (kind) => {
      server = await startServer(one);
      await server.outlast.publish('s', { data: 'a' });
      const head = (await server.outlast.store.info('s'))!.lastId;
      const position = kind === 'poll' ? { lastEventId: head } : {};
      const held = connect(kind, server.base, 's', { ...a, ...position });
      await until(() => connections(server!) === 1, 'the reader to hold its slot');
      held.cut();
      await served(server, kind);
      // Ended by the server: the stream ends while a reader holds the slot.
      const reader = connect(kind, server.base, 's', { ...a, ...position });
      await until(() => connections(server!) === 1, 'the reader to hold its slot');
      await server.outlast.end('s');
      expect((await reader.finished).how).toBe('end');
      await until(() => server!.outlast.stats().addresses === 0, 'the address to be forgotten');
    },
  );

  it('after a held poll times out, and after a client left during authorize', async () => {
    server = await startServer(one);
    await server.outlast.publish('s', { data: 'a' });
    const head = (await server.outlast.store.info('s'))!.lastId;
    const res = await fetch(
      `${server.base}/streams/s?transport=poll&wait=100&lastEventId=${head}`,
      a,
    );
    expect(((await res.json()) as { events: unknown[] }).events).toEqual([]);
    await served(server, 'sse');
    const leaving = new AbortController();
    const pending = fetch(`${server.base}/streams/s`, {
      headers: { ...a.headers, 'x-slow': '1' },
      signal: leaving.signal,
    }).catch(() => null);
    await sleep(30);
    leaving.abort();
    await pending;
    await sleep(200);
    await served(server, 'sse');
    const socket = new WebSocket(`${server.base.replace(/^http/, 'ws')}/streams/s?lastEventId=`, {
      headers: { ...a.headers, 'x-slow': '1' },
    });
    socket.on('error', () => {});
    await sleep(30);
    socket.terminate();
    await sleep(200);
    await served(server, 'ws');
  });

  it('after a TCP reset mid-stream', async () => {
    server = await startServer(one);
    await server.outlast.publish('s', { data: 'a' });
    const { port } = new URL(server.base);
    const socket = netConnect(Number(port), '127.0.0.1');
    socket.on('error', () => {});
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write(
      'GET /outlast/streams/s HTTP/1.1\r\nHost: 127.0.0.1\r\nx-client: 192.0.2.9\r\n\r\n',
    );
    await until(() => connections(server!) === 1, 'the raw reader to hold its slot');
    socket.resetAndDestroy();
    await served(server, 'sse');
  });
});

describe('the fetch adapter', () => {
  let outlast: Outlast | undefined;
  afterEach(async () => {
    const o = outlast;
    outlast = undefined;
    await closeIdle(o);
  });

  const request = (client?: string) =>
    new Request('http://app.example/outlast/streams/s', {
      headers: client === undefined ? {} : { 'x-client': client },
      signal: AbortSignal.timeout(5_000),
    });

  it('has no peer address: nothing counted per address unless clientAddress tells one', async () => {
    outlast = createOutlast({ maxConnectionsPerAddress: 1, onError: () => {} });
    await outlast.publish('s', { data: 'a' });
    const readers = [await outlast.fetch(request()), await outlast.fetch(request())];
    expect(readers.map((r) => r.status)).toEqual([200, 200]);
    expect(outlast.stats()).toMatchObject({ addresses: 0 });
    for (const r of readers) await r.body!.cancel();
  });

  it('counts by the clientAddress hook, and frees the slot when the body is cancelled', async () => {
    outlast = createOutlast({
      maxConnectionsPerAddress: 1,
      clientAddress: (req) => req.headers.get('x-client'),
      onError: () => {},
    });
    await outlast.publish('s', { data: 'a' });
    const first = await outlast.fetch(request('192.0.2.1'));
    expect(first.status).toBe(200);
    const refused = await outlast.fetch(request('192.0.2.1'));
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('5');
    expect((await errorOf(refused)).code).toBe('too-many-address-connections');
    const other = await outlast.fetch(request('192.0.2.2'));
    expect(other.status).toBe(200);
    await first.body!.cancel();
    await until(() => outlast!.stats().addresses === 1, 'the first address to be forgotten');
    const again = await outlast.fetch(request('192.0.2.1'));
    expect(again.status).toBe(200);
    await again.body!.cancel();
    await other.body!.cancel();
  });

  it('a throwing clientAddress hook counts the peer and reports the error', async () => {
    const errors: unknown[] = [];
    outlast = createOutlast({
      clientAddress: () => {
        throw new Error('hook failed');
      },
      onError: (error) => errors.push(error),
    });
    await outlast.publish('s', { data: 'a' });
    const res = await outlast.fetch(request());
    expect(res.status).toBe(200);
    expect(errors).toHaveLength(1);
    await res.body!.cancel();
  });
});

describe('limit options', () => {
  it('default to a share of maxConnections; null, 0 and Infinity switch a limit off', async () => {
    const defaults = createOutlast();
    expect(defaults.options.maxConnectionsPerAddress).toBe(2_000);
    expect(defaults.options.maxConnectionsPerIdentity).toBe(1_000);
    await defaults.close();
    const scaled = createOutlast({ maxConnections: 105 });
    expect(scaled.options.maxConnectionsPerAddress).toBe(11);
    expect(scaled.options.maxConnectionsPerIdentity).toBe(6);
    await scaled.close();
    for (const off of [null, 0, Number.POSITIVE_INFINITY]) {
      const o = createOutlast({ maxConnectionsPerAddress: off, maxConnectionsPerIdentity: off });
      expect(o.options.maxConnectionsPerAddress).toBe(Number.POSITIVE_INFINITY);
      expect(o.options.maxConnectionsPerIdentity).toBe(Number.POSITIVE_INFINITY);
      await o.close();
    }
  });

  it.each([
    ['maxConnectionsPerAddress', -1],
    ['maxConnectionsPerAddress', 1.5],
    ['maxConnectionsPerAddress', Number.NaN],
    ['maxConnectionsPerIdentity', '10'],
    ['clientAddress', 'x-forwarded-for'],
  ] as const)('refuses %s = %s with invalid-option', (name, value) => {
    let thrown: unknown;
    try {
      createOutlast({ [name]: value } as ServerOptions);
    } catch (error) {
      thrown = error;
    }
    expect(isOutlastError(thrown, 'invalid-option')).toBe(true);
    expect(String((thrown as Error).message)).toContain(name);
  });
});
