import { afterEach, describe, expect, it } from 'vitest';
import type { MemoryStore } from '../../src/store/index.js';
import { createMemoryStore } from '../../src/store/index.js';
import { connect, eventsOf, type Finish, type TransportKind } from '../helpers/clients.js';
import { closeIdle, sleep, startServer, type TestServer, until } from '../helpers/server.js';

/*
 * One suite, three transports: every behaviour of docs/protocol.md that applies to a transport
 * is checked on a real server over real sockets.
 */

let server: TestServer | undefined;
afterEach(async () => {
  const s = server;
  server = undefined;
  await closeIdle(s); // every test is a leak test
});

/** A small deterministic PRNG: the cut points are random but the same on every run. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe.each<TransportKind>(['sse', 'ws', 'poll'])('transport %s', (kind) => {
  it('sends open first, then retained events, then live ones, in order', async () => {
    server = await startServer();
    await server.outlast.publish('s', { data: 'a' });
    await server.outlast.publish('s', { event: 'progress', data: { done: 0.5 } });
    const conn = connect(kind, server.base, 's');
    await conn.waitFor((m) => m.type === 'event' && m.data === '{"done":0.5}');
    await server.outlast.publish('s', { data: 'live' });
    await conn.waitFor((m) => m.type === 'event' && m.data === 'live');
    conn.cut();
    expect(conn.messages[0]).toMatchObject({ type: 'open', resume: 'fresh' });
    expect(eventsOf(conn.messages).map((e) => [e.event, e.data])).toEqual([
      ['message', 'a'],
      ['progress', '{"done":0.5}'],
      ['message', 'live'],
    ]);
  });

  it('resumes with no loss and no duplicate under repeated cuts at random points', async () => {
    server = await startServer();
    const outlast = server.outlast;
    const random = prng(kind.length * 7919);
    const sent: string[] = [];
    await outlast.publish('cuts', { data: 'e0' });
    sent.push('e0');
    const publishing = (async () => {
      for (let i = 1; i <= 150; i++) {
        await outlast.publish('cuts', { data: `e${i}` });
        sent.push(`e${i}`);
        await sleep(random() < 0.2 ? 6 : 1);
      }
      await outlast.end('cuts', { event: 'done', data: 'last' });
      sent.push('last');
    })();
    const got: string[] = [];
    let last: string | null = null;
    let cuts = 0;
    for (let round = 0; round < 500; round++) {
      const conn = connect(kind, server.base, 'cuts', { lastEventId: last });
      const timer = setTimeout(() => conn.cut(), 5 + random() * 40);
      const finish: Finish = await conn.finished;
      clearTimeout(timer);
      for (const e of eventsOf(conn.messages)) {
        got.push(e.data);
        last = e.id;
      }
      if (finish.how === 'end' || finish.status === 204) break;
      cuts++;
    }
    await publishing;
    expect(got).toEqual(sent);
    expect(cuts).toBeGreaterThan(3);
  });

  it('tells a malformed id as a gap from the oldest retained event', async () => {
    server = await startServer();
    const first = await server.outlast.publish('s', { data: 'a' });
    const conn = connect(kind, server.base, 's', { lastEventId: 'not-an-id' });
    await conn.waitFor((m) => m.type === 'event');
    conn.cut();
    expect(conn.messages[0]).toMatchObject({ type: 'open', resume: 'gap' });
    expect(conn.messages[1]).toEqual({
      type: 'gap',
      requested: 'not-an-id',
      resumeFrom: first,
      reason: 'malformed',
    });
  });

  it('tells history lost to a restart as an epoch gap, never as continuity', async () => {
    server = await startServer();
    const old = await server.outlast.publish('s', { data: 'before' });
    (server.outlast.store as MemoryStore).clear();
    const fresh = await server.outlast.publish('s', { data: 'after' });
    const conn = connect(kind, server.base, 's', { lastEventId: old });
    await conn.waitFor((m) => m.type === 'event');
    conn.cut();
    expect(conn.messages[1]).toMatchObject({ type: 'gap', reason: 'epoch', resumeFrom: fresh });
    expect(eventsOf(conn.messages).map((e) => e.data)).toEqual(['after']);
  });

  it('tells an id older than retention as an evicted gap', async () => {
    server = await startServer({ store: createMemoryStore({ maxEventsPerStream: 3 }) });
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push(await server.outlast.publish('s', { data: `e${i}` }));
    const conn = connect(kind, server.base, 's', { lastEventId: ids[0]! });
    await conn.waitFor((m) => m.type === 'event' && m.data === 'e5');
    conn.cut();
    expect(conn.messages[1]).toMatchObject({ type: 'gap', reason: 'evicted', resumeFrom: ids[3] });
    expect(eventsOf(conn.messages).map((e) => e.data)).toEqual(['e3', 'e4', 'e5']);
  });

  it('lets a job outlive its clients, then delivers the rest and the result', async () => {
    server = await startServer({
      jobs: {
        ocr: async (ctx) => {
          for (let page = 1; page <= 5; page++) {
            await sleep(40);
            await ctx.progress({ page });
          }
          return { pages: 5, text: (ctx.input as { doc: string }).doc };
        },
      },
    });
    const res = await fetch(`${server.base}/jobs/ocr`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ doc: 'scan.pdf' }),
    });
    expect(res.status).toBe(202);
    const { jobId, stream, result } = (await res.json()) as Record<string, string>;
    expect(stream).toBe(`/outlast/jobs/${jobId}/events`);
    const first = connect(kind, server.base, jobId!);
    const progress = await first.waitFor((m) => m.type === 'event');
    first.cut();
    const last = (progress as { id: string }).id;
    await until(() => server!.outlast.connections === 0, 'the client to be gone');
    let state = '';
    for (let i = 0; i < 100 && state !== 'succeeded'; i++) {
      state = ((await (await fetch(`${server.origin}${result}`)).json()) as { state: string })
        .state;
      await sleep(20);
    }
    expect(state).toBe('succeeded');
    const again = connect(kind, server.base, jobId!, { lastEventId: last });
    expect((await again.finished).how).toBe('end');
    const events = eventsOf(again.messages);
    expect(events.map((e) => e.event)).toEqual([
      'progress',
      'progress',
      'progress',
      'progress',
      'outlast.result',
    ]);
    expect(JSON.parse(events.at(-1)!.data)).toEqual({ result: { pages: 5, text: 'scan.pdf' } });
  });

  it('ends an ended stream, and tells a reader at its final id there is nothing more', async () => {
    server = await startServer();
    await server.outlast.publish('s', { data: 'a' });
    await server.outlast.end('s', { event: 'final', data: 'z' });
    const conn = connect(kind, server.base, 's');
    expect((await conn.finished).how).toBe('end');
    const finalId = eventsOf(conn.messages).at(-1)!.id;
    const again = connect(kind, server.base, 's', { lastEventId: finalId });
    const finish = await again.finished;
    if (kind === 'sse') expect(finish.status).toBe(204);
    else expect(finish.how).toBe('end');
    expect(eventsOf(again.messages)).toEqual([]);
  });

  it('answers 404 JSON for an unknown stream', async () => {
    server = await startServer();
    const finish = await connect(kind, server.base, 'nope').finished;
    expect(finish.status).toBe(404);
    expect(JSON.parse(finish.body!)).toEqual({
      error: { code: 'unknown-stream', message: expect.any(String) },
    });
  });

  it('answers 400 naming what is accepted for a bad query value', async () => {
    server = await startServer();
    await server.outlast.publish('s', { data: 'a' });
    const finish = await connect(kind, server.base, 's', { query: { heartbeat: '1.5s' } }).finished;
    expect(finish.status).toBe(400);
    const body = JSON.parse(finish.body!) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('bad-query');
    expect(body.error.message).toContain('non-negative integer');
  });

  it('refuses past maxConnectionsPerStream with 429', async () => {
    server = await startServer({ maxConnectionsPerStream: 1 });
    await server.outlast.publish('s', { data: 'a' });
    // At the head of the stream, so a poll holds (and takes a slot) too.
    const at = {
      lastEventId: (await server.outlast.store.info('s'))!.lastId,
      query: { wait: '3000' },
    };
    const held = connect(kind, server.base, 's', at);
    await until(() => server!.outlast.connections === 1, 'the first connection');
    const finish = await connect(kind, server.base, 's', at).finished;
    held.cut();
    expect(finish.status).toBe(429);
    expect(JSON.parse(finish.body!).error.code).toBe('too-many-connections');
  });

  it('calls authorize: 401 and 403 as JSON', async () => {
    server = await startServer({
      authorize: (request, streamId) => {
        const auth = request.headers.get('authorization');
        if (auth === null) return 'unauthorized';
        return auth === `Bearer ${streamId}`;
      },
    });
    await server.outlast.publish('s', { data: 'a' });
    const none = await connect(kind, server.base, 's').finished;
    expect(none.status).toBe(401);
    expect(JSON.parse(none.body!).error.code).toBe('unauthorized');
    const wrong = await connect(kind, server.base, 's', {
      headers: { authorization: 'Bearer other' },
    }).finished;
    expect(wrong.status).toBe(403);
    const ok = connect(kind, server.base, 's', { headers: { authorization: 'Bearer s' } });
    await ok.waitFor((m) => m.type === 'event');
    ok.cut();
  });

  // Long-polling holds no stream open, so rotation and heartbeats do not apply to it.
  if (kind !== 'poll')
    describe('streaming transports', () => {
      it('rotates before maxStream and loses no event across rotations', async () => {
        server = await startServer();
        const outlast = server.outlast;
        const sent: string[] = [];
        await outlast.publish('rot', { data: 'e0' });
        sent.push('e0');
        const publishing = (async () => {
          for (let i = 1; i <= 60; i++) {
            await sleep(12);
            await outlast.publish('rot', { data: `e${i}` });
            sent.push(`e${i}`);
          }
          await outlast.end('rot');
        })();
        const got: string[] = [];
        let last: string | null = null;
        let rotations = 0;
        for (let round = 0; round < 100; round++) {
          const conn = connect(kind, server.base, 'rot', {
            lastEventId: last,
            query: { maxStream: '250' },
          });
          // Timed from the open notice: the server arms its deadline before sending it, and
          // connection setup on a loaded machine is not what this measures.
          const opened = conn
            .waitFor((m) => m.type === 'open')
            .then(
              () => Date.now(),
              () => Number.NaN,
            );
          const finish = await conn.finished;
          for (const e of eventsOf(conn.messages)) {
            got.push(e.data);
            last = e.id;
          }
          if (finish.how === 'rotate') {
            rotations++;
            expect(Date.now() - (await opened)).toBeLessThan(250 + 150);
            expect(conn.messages[0]).toMatchObject({ type: 'open', maxStreamMs: 250 });
            continue;
          }
          if (finish.how === 'end' || finish.status === 204) break;
          throw new Error(`unexpected finish ${JSON.stringify(finish)}`);
        }
        await publishing;
        expect(got).toEqual(sent);
        expect(rotations).toBeGreaterThanOrEqual(2);
      });

      it('heartbeats at the interval the client asked for, announced first', async () => {
        server = await startServer();
        await server.outlast.publish('hb', { data: 'a' });
        const conn = connect(kind, server.base, 'hb', { query: { heartbeat: '200' } });
        await sleep(1150);
        conn.cut();
        expect(conn.messages[0]).toMatchObject({ type: 'open', heartbeatMs: 200 });
        const beats = conn.messages.filter((m) => m.type === 'heartbeat') as {
          t: number;
          at: number;
        }[];
        expect(beats.length).toBeGreaterThanOrEqual(4);
        for (let i = 1; i < beats.length; i++) {
          const gap = beats[i]!.t - beats[i - 1]!.t;
          // Never later than asked (the wheel fires up to one 20 ms tick early); margin for a
          // loaded machine on the late side of the timer.
          expect(gap).toBeGreaterThanOrEqual(200 - 20 - 5);
          expect(gap).toBeLessThanOrEqual(200 + 150);
        }
      });

      it('clamps the heartbeat to the server bounds', async () => {
        server = await startServer({ minHeartbeatMs: 1000, maxHeartbeatMs: 60_000 });
        await server.outlast.publish('hb', { data: 'a' });
        for (const [asked, got] of [
          ['5', 1000],
          ['999999', 60_000],
        ] as const) {
          const conn = connect(kind, server.base, 'hb', { query: { heartbeat: asked } });
          const open = await conn.waitFor((m) => m.type === 'open');
          conn.cut();
          expect(open).toMatchObject({ heartbeatMs: got });
        }
      });
    });
});

describe('rotation by transport', () => {
  it('applies the server-wide maxStreamMs to SSE, and to WebSocket only when asked', async () => {
    server = await startServer({ maxStreamMs: 300 });
    await server.outlast.publish('s', { data: 'a' });
    const sse = connect('sse', server.base, 's');
    expect((await sse.finished).how).toBe('rotate');
    const ws = connect('ws', server.base, 's');
    const open = await ws.waitFor((m) => m.type === 'open');
    expect(open).toMatchObject({ maxStreamMs: null });
    await sleep(450);
    expect(ws.messages.some((m) => m.type === 'rotate')).toBe(false);
    ws.cut();
    const asked = connect('ws', server.base, 's', { query: { maxStream: '200' } });
    expect((await asked.finished).how).toBe('rotate');
  });
});
