import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect as netConnect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { isOutlastError } from '../../src/errors.js';
import { startProbeServer } from '../../src/probe/server/standalone.js';
import {
  attachWebSocket,
  createOutlast,
  hardenServer,
  type ServerOptions,
} from '../../src/server/index.js';
import { closeIdle, expectIdle, startServer, type TestServer, until } from '../helpers/server.js';
import { cli } from '../probe/helpers.js';

/*
 * Who may reach what: origins on every upgrade, content type of a job start, CORS that never
 * echoes any origin, job names not listed before authorize, limits that tell no counts,
 * probe tokens that are never empty, upgrades outside the base path always answered.
 */

let server: TestServer | undefined;
afterEach(async () => {
  const s = server;
  server = undefined;
  await closeIdle(s); // every test is a leak test
});

/** Opens a WebSocket and reports the handshake's outcome: 101, or the refusal's status. */
function upgrade(
  url: string,
  headers: Record<string, string>,
): Promise<{ status: number; ws?: WebSocket; body?: string }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers });
    ws.on('open', () => resolve({ status: 101, ws }));
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.on('error', () => resolve({ status: 0 }));
  });
}

async function wsServer(options: ServerOptions) {
  server = await startServer(options);
  await server.outlast.publish('s', { data: 'a' });
  return `${server.base.replace(/^http/, 'ws')}/streams/s?lastEventId=`;
}

describe('WebSocket upgrades check the origin', () => {
  it('refuses a foreign origin when CORS is off, lets same-origin and non-browser clients in', async () => {
    const url = await wsServer({});
    const host = new URL(server!.origin).host;
    expect((await upgrade(url, { origin: 'https://evil.example' })).status).toBe(403);
    for (const headers of [{}, { origin: `http://${host}` }] as Record<string, string>[]) {
      const ok = await upgrade(url, headers);
      expect(ok.status).toBe(101);
      ok.ws!.terminate();
    }
  });

  it('lets in only the origins cors.origin lists', async () => {
    const url = await wsServer({ cors: { origin: ['https://app.example'], credentials: true } });
    const evil = await upgrade(url, { origin: 'https://evil.example', cookie: 'sid=victim' });
    expect(evil.status).toBe(403);
    expect(JSON.parse(evil.body!).error.code).toBe('forbidden');
    const app = await upgrade(url, { origin: 'https://app.example' });
    expect(app.status).toBe(101);
    app.ws!.terminate();
  });

  it("admits any origin under '*' but without its cookies", async () => {
    const seen: (string | null)[] = [];
    const url = await wsServer({
      cors: { origin: '*' },
      authorize: (request) => {
        seen.push(request.headers.get('cookie'));
        return true;
      },
    });
    const any = await upgrade(url, { origin: 'https://evil.example', cookie: 'sid=victim' });
    expect(any.status).toBe(101);
    any.ws!.terminate();
    const same = await upgrade(url, { cookie: 'sid=mine' });
    same.ws!.terminate();
    expect(seen).toEqual([null, 'sid=mine']);
  });
});

describe('job starts', () => {
  it('require application/json (415 otherwise), so no page starts one without a preflight', async () => {
    server = await startServer({ jobs: { echo: (ctx) => ctx.input } });
    const post = (headers: Record<string, string>, body?: string) =>
      fetch(`${server!.base}/jobs/echo`, { method: 'POST', headers, body });
    for (const [headers, body] of [
      [{ 'content-type': 'text/plain' }, '{"a":1}'],
      [{ 'content-type': 'application/x-www-form-urlencoded' }, 'a=1'],
      [{ 'content-type': 'multipart/form-data; boundary=x' }, '--x--'],
      [{}, undefined],
    ] as const) {
      const res = await post(headers, body);
      expect(res.status).toBe(415);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe(
        'unsupported-media-type',
      );
    }
    const ok = await post({ 'content-type': 'Application/JSON; charset=utf-8' }, '{"a":1}');
    expect(ok.status).toBe(202);
    const { jobId } = (await ok.json()) as { jobId: string };
    await server.outlast.getJob(jobId);
    await expectIdle(server.outlast);
  });

  it('tell an unknown job name only to whoever authorize lets through', async () => {
    const asked: string[] = [];
    server = await startServer({
      jobs: { real: () => 1 },
      authorize: (request, name, action) => {
        asked.push(`${action}:${name}`);
        return request.headers.get('authorization') === 'Bearer ok';
      },
    });
    const post = (name: string, auth?: string) =>
      fetch(`${server!.base}/jobs/${name}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) },
      });
    // Anyone else cannot tell a real name from a made-up one.
    expect((await post('real')).status).toBe(403);
    expect((await post('made-up')).status).toBe(403);
    expect(asked).toEqual(['start-job:real', 'start-job:made-up']);
    expect((await post('made-up', 'Bearer ok')).status).toBe(404);
  });
});

describe('CORS', () => {
  it("refuses origin '*' with credentials: it would hand every site the user's cookies", () => {
    let error: unknown;
    try {
      createOutlast({ cors: { origin: '*', credentials: true } });
    } catch (e) {
      error = e;
    }
    expect(isOutlastError(error, 'invalid-option')).toBe(true);
    expect(String(error)).toContain('list the allowed origins');
  });

  it("answers '*' for any origin, never the origin itself", async () => {
    server = await startServer({ cors: { origin: '*' } });
    await server.outlast.publish('s', { data: 'a' });
    const res = await fetch(`${server.base}/streams/s?transport=poll&wait=0`, {
      headers: { origin: 'https://evil.example' },
    });
    await res.text();
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
  });

  it('allows the request headers given in allowedHeaders, the defaults otherwise', async () => {
    server = await startServer({
      cors: { origin: 'https://app.example', allowedHeaders: ['X-Session', 'Content-Type'] },
    });
    const preflight = await fetch(`${server.base}/jobs/x`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-headers': 'x-session' },
    });
    expect(preflight.headers.get('access-control-allow-headers')).toBe('X-Session, Content-Type');
    const other = await startServer({ cors: { origin: 'https://app.example' } });
    const plain = await fetch(`${other.base}/jobs/x`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example' },
    });
    expect(plain.headers.get('access-control-allow-headers')).toBe(
      'Last-Event-ID, Content-Type, Authorization, Idempotency-Key',
    );
    await other.close();
    expect(() => createOutlast({ cors: { allowedHeaders: ['bad header'] } })).toThrow(
      /header names/,
    );
  });
});

describe('limits tell no counts', () => {
  it('answers 429 and 503 without reader or connection numbers', async () => {
    // Both readers come from 127.0.0.1: no per-address limit (a tenth of 2 would be 1).
    server = await startServer({
      maxConnectionsPerStream: 1,
      maxConnections: 2,
      maxConnectionsPerAddress: null,
    });
    for (const id of ['s', 't', 'u']) await server.outlast.publish(id, { data: 'a' });
    const controller = new AbortController();
    const hold = (id: string) =>
      void fetch(`${server!.base}/streams/${id}`, { signal: controller.signal })
        .then((r) => r.body?.getReader().read())
        .catch(() => {});
    hold('s');
    await until(() => server!.outlast.connections === 1, 'the first reader');
    const perStream = await fetch(`${server.base}/streams/s`);
    hold('t');
    await until(() => server!.outlast.connections === 2, 'the second reader');
    const total = await fetch(`${server.base}/streams/u`);
    expect([perStream.status, total.status]).toEqual([429, 503]);
    for (const res of [perStream, total]) {
      const { error } = (await res.json()) as { error: { message: string } };
      expect(error.message).not.toMatch(/\d+ (readers|connections)|holds \d|has \d/);
      expect(res.headers.get('retry-after')).toBe('5');
    }
    controller.abort();
  });
});

describe('probe server tokens', () => {
  it('refuses an empty token to start with, and ?token= empty never matches', async () => {
    await expect(startProbeServer({ host: '0.0.0.0', token: '' })).rejects.toThrow(/empty/);
    const run = await cli(['probe-server', '--host', '0.0.0.0', '--token', '']);
    expect(run.code).not.toBe(0);
    expect(run.err).toContain('--token must not be empty');
    const probe = await startProbeServer({ token: 'secret' });
    try {
      const empty = await fetch(`${probe.url}/info?token=`);
      await empty.text();
      expect(empty.status).toBe(401);
      const good = await fetch(`${probe.url}/info?token=secret`);
      await good.text();
      expect(good.status).toBe(200);
    } finally {
      await probe.close();
    }
  });
});

describe('upgrades outside the base path', () => {
  let plain: Server | undefined;
  afterEach(async () => {
    plain?.closeAllConnections();
    await new Promise<void>((resolve) => (plain ? plain.close(() => resolve()) : resolve()));
    plain = undefined;
  });

  /** A raw upgrade request; resolves with what came back before the socket closed. */
  function rawUpgrade(port: number, path: string): Promise<string> {
    return new Promise((resolve) => {
      const socket = netConnect(port, '127.0.0.1', () => {
        socket.write(
          `GET ${path} HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n`,
        );
      });
      let got = '';
      socket.on('data', (c) => {
        got += c;
      });
      socket.on('error', () => {});
      socket.on('close', () => resolve(got));
      setTimeout(() => {
        socket.destroy();
        resolve(`${got}(still held)`);
      }, 3_000);
    });
  }

  async function listen(withOther: 'none' | 'ignores' | 'takes', unroutedUpgradeMs?: number) {
    const outlast = createOutlast({ onError: () => {} });
    plain = hardenServer(createServer(outlast.handleNode));
    if (withOther !== 'none') {
      plain.on('upgrade', (req, socket) => {
        if (withOther === 'takes' && req.url === '/other') {
          socket.end('HTTP/1.1 418 Teapot\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
        }
      });
    }
    attachWebSocket(outlast, plain, unroutedUpgradeMs === undefined ? {} : { unroutedUpgradeMs });
    await new Promise<void>((resolve) => plain!.listen(0, '127.0.0.1', resolve));
    return (plain.address() as AddressInfo).port;
  }

  it('answers 404 at once when no other listener exists', async () => {
    const port = await listen('none');
    expect(await rawUpgrade(port, '/elsewhere')).toMatch(/^HTTP\/1.1 404 /);
  });

  it('leaves it to another listener that takes it, answers 404 when none did', async () => {
    const port = await listen('takes', 200);
    expect(await rawUpgrade(port, '/other')).toMatch(/^HTTP\/1.1 418 /);
    const started = Date.now();
    expect(await rawUpgrade(port, '/nobody')).toMatch(/^HTTP\/1.1 404 /);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
  });
});
