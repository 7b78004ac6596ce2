import { afterEach, describe, expect, it, vi } from 'vitest';
import { type ClientEvent, type CommentNotice, connect } from '../../src/client/index.js';
import { resolveUrl } from '../../src/client/urls.js';
import { isOutlastError } from '../../src/errors.js';
import { closeFixtures, httpFixture, startTestServer, testOptions, until } from './helpers.js';

/*
 * The client's edges: URLs, ids, comments. A small fixture server plays any plain SSE
 * endpoint (no outlast headers) so that every byte on the wire is the test's.
 */

afterEach(async () => {
  vi.unstubAllGlobals();
  await closeFixtures();
});

describe('URLs', () => {
  it('refuses what is not an http(s) URL with invalid-url, at once', () => {
    for (const bad of ['not a url', 'ftp://example.com/s', '/outlast/jobs/ocr', '']) {
      let thrown: unknown;
      try {
        connect(bad, testOptions());
      } catch (e) {
        thrown = e;
      }
      expect(isOutlastError(thrown, 'invalid-url'), bad).toBe(true);
    }
  });

  it('resolves a relative URL against the page, as fetch and EventSource do', () => {
    expect(resolveUrl('/outlast/jobs/ocr', 'https://app.example/a/b?x')).toBe(
      'https://app.example/outlast/jobs/ocr',
    );
    expect(resolveUrl('events', 'https://app.example/a/b')).toBe('https://app.example/a/events');
    vi.stubGlobal('location', { href: 'https://page.example/dir/index.html' });
    expect(resolveUrl('../outlast/streams/s')).toBe('https://page.example/outlast/streams/s');
    vi.stubGlobal('document', { baseURI: 'https://base.example/x/' });
    expect(resolveUrl('s')).toBe('https://base.example/x/s');
  });

  it('connect() in a page reads a relative stream URL', async () => {
    const origin = await httpFixture((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end('data: hello\n\n');
    });
    vi.stubGlobal('location', { href: `${origin}/app/page.html` });
    const conn = connect('/events', testOptions({ protocol: 'sse' }));
    expect(conn.url).toBe(`${origin}/events`);
    const it = conn[Symbol.asyncIterator]();
    expect((await it.next()).value?.data).toBe('hello');
    conn.close();
  });
});

describe('last event id', () => {
  it('an empty id: resets it: conn.lastEventId is null, not the initial option; each event carries the id at its dispatch', async () => {
    const seen: Array<string | undefined> = [];
    const origin = await httpFixture((req, res) => {
      seen.push(req.headers['last-event-id'] as string | undefined);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      if (seen.length === 1) {
        res.end('id: 5\ndata: a\n\ndata: b\n\nid\ndata: c\n\ndata: d\n\n');
      } else res.end('retry: 10000\n\n');
    });
    const conn = connect(`${origin}/s`, testOptions({ protocol: 'sse', lastEventId: 'initial' }));
    const got: ClientEvent[] = [];
    conn.on('event', (e) => got.push(e));
    await until(() => seen.length >= 2, 'the reconnect');
    expect(got.map((e) => [e.data, e.id, e.lastEventId])).toEqual([
      ['a', '5', '5'],
      ['b', null, '5'],
      ['c', '', null],
      ['d', null, null],
    ]);
    expect(conn.lastEventId).toBeNull();
    // [spec] the reconnect sends no Last-Event-ID once it was reset.
    expect(seen).toEqual(['initial', undefined]);
    conn.close();
  });
});

describe('comments', () => {
  it('the comment listener sees every comment line, heartbeats included', async () => {
    const origin = await httpFixture((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(': hello there\n\n:\n\n: hb 1733097600000\n\n');
      res.end('data: x\n\n');
    });
    const conn = connect(`${origin}/s`, testOptions({ protocol: 'sse' }));
    const comments: CommentNotice[] = [];
    conn.on('comment', (c) => comments.push(c));
    await until(() => comments.length >= 3, 'three comments');
    // The response ends after its event: a healthy cut, reconnected at once, may add more.
    expect(comments.slice(0, 3)).toEqual([
      { text: 'hello there', transport: 'sse' },
      { text: '', transport: 'sse' },
      { text: 'hb 1733097600000', transport: 'sse' },
    ]);
    conn.close();
  });
});

describe('line and event limits', () => {
  it('a 7 MB data line is a typed error (max-line-bytes-exceeded), never a silent drop', async () => {
    const origin = await httpFixture((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: before\n\n');
      res.end(`data: ${'x'.repeat(7 * 1024 * 1024)}\n\ndata: after\n\n`);
    });
    const conn = connect(`${origin}/s`, testOptions({ protocol: 'sse' }));
    const got: string[] = [];
    await expect(
      (async () => {
        for await (const e of conn) got.push(e.data);
      })(),
    ).rejects.toMatchObject({ code: 'max-line-bytes-exceeded' });
    expect(got).toEqual(['before']);
    await expect(conn.done).rejects.toMatchObject({ code: 'max-line-bytes-exceeded' });
  });

  it('maxLineBytes and maxEventBytes are options of connect()', async () => {
    const origin = await httpFixture((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(`data: ${'a'.repeat(100)}\ndata: ${'b'.repeat(100)}\n\n`);
    });
    const ok = connect(`${origin}/s`, testOptions({ protocol: 'sse', maxLineBytes: 200 }));
    const first = await ok[Symbol.asyncIterator]().next();
    expect(first.value?.data.length).toBe(201);
    ok.close();
    const small = connect(`${origin}/s`, testOptions({ protocol: 'sse', maxEventBytes: 150 }));
    await expect(small.done).rejects.toMatchObject({ code: 'max-event-bytes-exceeded' });
    expect(() => connect(`${origin}/s`, { maxLineBytes: 0 })).toThrow(/maxLineBytes/);
  });

  it.each(['sse', 'ws', 'poll'] as const)(
    'an event over maxEventBytes on %s fails with max-event-bytes-exceeded',
    async (transport) => {
      const server = await startTestServer();
      try {
        await server.outlast.publish('s', { data: 'small' });
        await server.outlast.publish('s', { data: 'y'.repeat(5000) });
        const conn = connect(
          `${server.base}/streams/s`,
          testOptions({ transports: [transport], protocol: 'outlast', maxEventBytes: 4096 }),
        );
        const got: string[] = [];
        conn.on('event', (e) => got.push(e.data));
        await expect(conn.done).rejects.toMatchObject({ code: 'max-event-bytes-exceeded' });
        expect(got).toEqual(['small']);
      } finally {
        await server.close();
      }
    },
  );
});

describe('the iterator queue', () => {
  /** Sends `n` events at once, then holds the stream open. */
  const burst = (n: number) =>
    httpFixture((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(Array.from({ length: n }, (_, i) => `id: ${i}\ndata: ${i}\n\n`).join(''));
    });

  it('listeners only: past maxQueuedEvents the queue stops, listeners get every event, a late iterator throws where its events stop', async () => {
    const origin = await burst(8);
    const conn = connect(`${origin}/s`, testOptions({ protocol: 'sse', maxQueuedEvents: 5 }));
    const heard: string[] = [];
    const errors: unknown[] = [];
    conn.on('event', (e) => heard.push(e.data));
    conn.on('error', (e) => errors.push(e));
    await until(() => heard.length === 8, 'eight events');
    expect(errors).toEqual([]);
    const read: string[] = [];
    await expect(
      (async () => {
        for await (const e of conn) read.push(e.data);
      })(),
    ).rejects.toMatchObject({ code: 'max-queued-events-exceeded' });
    expect(read).toEqual(['0', '1', '2', '3', '4']);
    conn.close();
  });

  it('an iterator that falls maxQueuedEvents behind fails the connection with a typed error', async () => {
    const origin = await burst(12);
    const conn = connect(`${origin}/s`, testOptions({ protocol: 'sse', maxQueuedEvents: 5 }));
    const it = conn[Symbol.asyncIterator]();
    expect((await it.next()).value?.data).toBe('0');
    await expect(conn.done).rejects.toMatchObject({ code: 'max-queued-events-exceeded' });
    const rest: string[] = [];
    await expect(
      (async () => {
        for (;;) {
          const r = await it.next();
          if (r.done) break;
          rest.push(r.value.data);
        }
      })(),
    ).rejects.toMatchObject({ code: 'max-queued-events-exceeded' });
    expect(rest).toEqual(['1', '2', '3', '4', '5']);
  });
});

describe('heartbeats as comments', () => {
  it.each(['sse', 'ws'] as const)(
    'the outlast heartbeats over %s reach the comment listener',
    async (transport) => {
      const server = await startTestServer({ heartbeatMs: 100 });
      try {
        await server.outlast.publish('s', { data: 'x' });
        const conn = connect(
          `${server.base}/streams/s`,
          testOptions({ transports: [transport], protocol: 'outlast', heartbeatMs: 100 }),
        );
        const comments: CommentNotice[] = [];
        conn.on('comment', (c) => comments.push(c));
        await until(() => comments.some((c) => /^hb \d+$/.test(c.text)), 'a heartbeat comment');
        expect(comments.find((c) => c.text.startsWith('hb'))?.transport).toBe(transport);
        conn.close();
      } finally {
        await server.close();
      }
    },
  );
});

describe('leaving the loop', () => {
  it('break closes the connection: the stream is released and nothing reconnects', async () => {
    let requests = 0;
    let released = 0;
    const origin = await httpFixture((req, res) => {
      requests++;
      req.socket.on('close', () => released++);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('retry: 10\n\ndata: a\n\ndata: b\n\n');
    });
    const conn = connect(`${origin}/s`, testOptions({ protocol: 'sse' }));
    for await (const e of conn) if (e.data === 'a') break;
    await expect(conn.done).rejects.toMatchObject({ code: 'client-closed' });
    await until(() => released === 1, 'the stream released');
    await new Promise((r) => setTimeout(r, 100));
    expect(requests).toBe(1);
  });
});
