import { afterEach, describe, expect, it } from 'vitest';
import { type CutReport, connect } from '../../src/client/index.js';
import { closeFixtures, httpFixture, startTestServer, testOptions, until } from './helpers.js';

/*
 * Mobile and tabs: page-lifecycle events (injected here as plain EventTargets; in Chromium in
 * browser.test.ts) run a waiting reconnect at once; an abort nobody asked for is a network loss.
 */

afterEach(async () => {
  await closeFixtures();
});

/** A page whose `document.visibilityState` the test sets. */
function fakePage() {
  const window = new EventTarget();
  const document = Object.assign(new EventTarget(), { visibilityState: 'hidden' });
  return { window, document };
}

/** An endpoint that refuses (503) the first request and streams afterwards. */
async function refusesFirst(refuseAfterMs = 0) {
  const times: number[] = [];
  const origin = await httpFixture((_req, res) => {
    times.push(Date.now());
    if (times.length === 1) setTimeout(() => res.writeHead(503).end(), refuseAfterMs);
    else
      res
        .writeHead(200, { 'content-type': 'text/event-stream' })
        .end('data: back\n\nretry: 60000\n\n');
  });
  return { url: `${origin}/s`, times };
}

// A backoff of ~10 s after the refusal: only a wake can bring the reconnect within the test.
const slow = { initialDelayMs: 10_000, maxDelayMs: 10_000, random: () => 0.99 };

describe('page lifecycle', () => {
  it.each([
    ['online', (p: ReturnType<typeof fakePage>) => p.window.dispatchEvent(new Event('online'))],
    [
      'visibilitychange to visible',
      (p: ReturnType<typeof fakePage>) => {
        p.document.visibilityState = 'visible';
        p.document.dispatchEvent(new Event('visibilitychange'));
      },
    ],
    ['pageshow', (p: ReturnType<typeof fakePage>) => p.window.dispatchEvent(new Event('pageshow'))],
  ])('%s runs the waiting reconnect at once', async (_name, fire) => {
    const page = fakePage();
    const { url, times } = await refusesFirst();
    const conn = connect(url, testOptions({ protocol: 'sse', lifecycle: page, ...slow }));
    const delays: number[] = [];
    conn.on('reconnecting', (r) => delays.push(r.delayMs));
    await until(() => delays.length === 1, 'the backoff after the refusal');
    expect(delays[0]).toBeGreaterThan(9_000);
    const woke = Date.now();
    fire(page);
    const first = await conn[Symbol.asyncIterator]().next();
    expect(first.value?.data).toBe('back');
    expect(times).toHaveLength(2);
    expect(times[1]! - woke).toBeLessThan(1_000);
    conn.close();
  });

  /** Connects to `url` with `page` and waits for the long backoff after the refusal. */
  async function waitingOn(page: ReturnType<typeof fakePage>, url: string) {
    const conn = connect(url, testOptions({ protocol: 'sse', lifecycle: page, ...slow }));
    const delays: number[] = [];
    conn.on('reconnecting', (r) => delays.push(r.delayMs));
    await until(() => delays.length === 1, 'the backoff after the refusal');
    return conn;
  }
  const show = (p: ReturnType<typeof fakePage>, persisted: boolean) =>
    p.window.dispatchEvent(Object.assign(new Event('pageshow'), { persisted }));

  it('pageshow of a page load does not cut short a backoff that began while visible', async () => {
    const page = fakePage();
    page.document.visibilityState = 'visible';
    const { url, times } = await refusesFirst();
    const conn = await waitingOn(page, url);
    show(page, false);
    await new Promise((r) => setTimeout(r, 300));
    expect(times).toHaveLength(1);
    conn.close();
  });

  it.each([
    ['hidden by visibilitychange', true],
    ['hidden by pagehide', false],
  ])('pageshow after a loss while %s reconnects at once', async (_name, byVisibility) => {
    const page = fakePage();
    page.document.visibilityState = 'visible';
    // The page is hidden while the first request waits; its refusal comes while hidden.
    const { url, times } = await refusesFirst(300);
    const waiting = waitingOn(page, url);
    await until(() => times.length === 1, 'the first request');
    if (byVisibility) {
      page.document.visibilityState = 'hidden';
      page.document.dispatchEvent(new Event('visibilitychange'));
    } else page.window.dispatchEvent(new Event('pagehide'));
    const conn = await waiting;
    page.document.visibilityState = 'visible';
    const woke = Date.now();
    show(page, false);
    const first = await conn[Symbol.asyncIterator]().next();
    expect(first.value?.data).toBe('back');
    expect(times[1]! - woke).toBeLessThan(1_000);
    conn.close();
  });

  it('pageshow from the back/forward cache (persisted) runs a backoff begun before it', async () => {
    const page = fakePage();
    page.document.visibilityState = 'visible';
    const { url, times } = await refusesFirst();
    const conn = await waitingOn(page, url);
    page.window.dispatchEvent(new Event('pagehide'));
    const woke = Date.now();
    show(page, true);
    const first = await conn[Symbol.asyncIterator]().next();
    expect(first.value?.data).toBe('back');
    expect(times[1]! - woke).toBeLessThan(1_000);
    conn.close();
  });

  it('a healthy connection is not torn down by online, visible or pageshow', async () => {
    const page = fakePage();
    let requests = 0;
    const origin = await httpFixture((_req, res) => {
      requests++;
      res.writeHead(200, { 'content-type': 'text/event-stream' }).write('data: up\n\n');
    });
    const conn = connect(`${origin}/s`, testOptions({ protocol: 'sse', lifecycle: page }));
    const cuts: CutReport[] = [];
    conn.on('cut', (c) => cuts.push(c));
    expect((await conn[Symbol.asyncIterator]().next()).value?.data).toBe('up');
    page.window.dispatchEvent(new Event('pagehide'));
    page.document.dispatchEvent(new Event('visibilitychange'));
    page.document.visibilityState = 'visible';
    page.document.dispatchEvent(new Event('visibilitychange'));
    show(page, true);
    page.window.dispatchEvent(new Event('online'));
    await new Promise((r) => setTimeout(r, 300));
    expect({ requests, cuts: cuts.length }).toEqual({ requests: 1, cuts: 0 });
    conn.close();
  });

  it('a tab turning hidden does not wake anything; a closed connection stops listening', async () => {
    const page = fakePage();
    const { url, times } = await refusesFirst();
    const conn = connect(url, testOptions({ protocol: 'sse', lifecycle: page, ...slow }));
    await until(() => times.length === 1, 'the first request');
    await new Promise((r) => setTimeout(r, 50));
    page.document.visibilityState = 'hidden';
    page.document.dispatchEvent(new Event('visibilitychange'));
    await new Promise((r) => setTimeout(r, 200));
    expect(times).toHaveLength(1);
    conn.close();
    await conn.done.catch(() => {});
    page.window.dispatchEvent(new Event('online'));
    await new Promise((r) => setTimeout(r, 100));
    expect(times).toHaveLength(1);
  });
});

describe('a job start waiting after a network error', () => {
  it('online runs the next POST at once; a refusal with its own wait is not cut short', async () => {
    const server = await startTestServer({ jobs: { one: () => 1 } });
    try {
      const page = fakePage();
      page.document.visibilityState = 'visible';
      const posts: number[] = [];
      // Offline at first: the first POST cannot leave the machine.
      const flaky: typeof fetch = async (input, init) => {
        const request = new Request(input, init);
        if (request.method === 'POST') {
          posts.push(Date.now());
          if (posts.length === 1) throw new TypeError('fetch failed');
        }
        return fetch(request);
      };
      const conn = connect(
        `${server.base}/jobs/one`,
        testOptions({ body: {}, fetch: flaky, lifecycle: page, ...slow }),
      );
      const delays: number[] = [];
      conn.on('reconnecting', (r) => delays.push(r.delayMs));
      await until(() => delays.length === 1, 'the backoff after the failed POST');
      expect(delays[0]).toBeGreaterThan(9_000);
      const online = Date.now();
      page.window.dispatchEvent(new Event('online'));
      expect(await conn.result).toBe(1);
      expect(posts).toHaveLength(2);
      expect(posts[1]! - online).toBeLessThan(1_000);
    } finally {
      await server.close();
    }
  });

  it('a 503 refusal waits its backoff through an online event', async () => {
    const page = fakePage();
    let posts = 0;
    const origin = await httpFixture((_req, res) => {
      posts++;
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end('{"error":{"code":"overloaded","message":"busy"}}');
    });
    const conn = connect(
      `${origin}/outlast/jobs/x`,
      testOptions({ body: {}, lifecycle: page, ...slow }),
    );
    const delays: number[] = [];
    conn.on('reconnecting', (r) => delays.push(r.delayMs));
    await until(() => delays.length === 1, 'the backoff after the refusal');
    page.window.dispatchEvent(new Event('online'));
    await new Promise((r) => setTimeout(r, 300));
    expect(posts).toBe(1);
    conn.close();
    await conn.done.catch(() => {});
  });
});

describe('aborts nobody asked for', () => {
  it('a background AbortError before the response is network-error, and the client reconnects', async () => {
    let requests = 0;
    const fetch = async () => {
      requests++;
      if (requests === 1) throw new DOMException('The operation was aborted.', 'AbortError');
      return new Response('data: 2\n\n', { headers: { 'content-type': 'text/event-stream' } });
    };
    const conn = connect('http://127.0.0.1:9/s', testOptions({ protocol: 'sse', fetch }));
    const cuts: CutReport[] = [];
    conn.on('cut', (c) => cuts.push(c));
    const first = await conn[Symbol.asyncIterator]().next();
    conn.close();
    expect(first.value?.data).toBe('2');
    expect(cuts[0]?.cause).toBe('network-error');
    expect(cuts.at(-1)?.cause).toBe('client-abort');
  });

  it.each([
    ['a background AbortError', () => new DOMException('The operation was aborted.', 'AbortError')],
    ["Safari's TypeError: Load failed", () => new TypeError('Load failed')],
  ])('%s mid-body is network-error, and the client reconnects', async (_name, makeError) => {
    let requests = 0;
    const fetch = async () => {
      requests++;
      const n = requests;
      const body = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(new TextEncoder().encode(`id: ${n}\ndata: ${n}\n\n`));
          if (n === 1) setTimeout(() => c.error(makeError()), 10);
          else c.close();
        },
      });
      return new Response(body, { headers: { 'content-type': 'text/event-stream' } });
    };
    const conn = connect('http://127.0.0.1:9/s', testOptions({ protocol: 'sse', fetch }));
    const cuts: CutReport[] = [];
    conn.on('cut', (c) => cuts.push(c));
    const got: string[] = [];
    for await (const e of conn) {
      got.push(e.data);
      if (got.length === 2) break;
    }
    conn.close();
    expect(got).toEqual(['1', '2']);
    expect(cuts[0]?.cause).toBe('network-error');
  });
});
