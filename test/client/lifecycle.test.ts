import { afterEach, describe, expect, it } from 'vitest';
import { type CutReport, connect } from '../../src/client/index.js';
import { closeFixtures, httpFixture, testOptions, until } from './helpers.js';

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
async function refusesFirst() {
  const times: number[] = [];
  const origin = await httpFixture((_req, res) => {
    times.push(Date.now());
    if (times.length === 1) res.writeHead(503).end();
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

describe('aborts nobody asked for', () => {
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
