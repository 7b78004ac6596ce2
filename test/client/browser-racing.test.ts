import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HopKnobs } from '../../src/proxy/index.js';
import {
  buildBrowserBundle,
  launchChromium,
  type PageServer,
  startPageServer,
} from '../helpers/chromium.js';
import type { TestServer } from '../helpers/server.js';
import { proxyFor, sleep, startTestServer } from './helpers.js';

/*
 * First-contact racing in real Chromium: a page with a fresh profile (nothing learned, empty
 * localStorage) starts a job through a hop that holds the whole response, head included, until
 * it ends (nginx-style buffering). The SSE attempt gets no headers; after the hold bound the
 * browser's WebSocket starts beside it and wins: the job's progress arrives on time on this
 * very first run, each event once, in order. Scaled: a 1.5 s job, a 300 ms hold bound.
 */

const STEPS = 30;
const GAP_MS = 50;
const HOLD_MS = 300;
const holdEverything: Partial<HopKnobs> = {
  holdWhole: true,
  headWaitsForBody: true,
  bufferTypes: ['text/event-stream'],
};

let server: TestServer;
let page: PageServer;
let pageOrigin: string;

beforeAll(async () => {
  const bundle = await buildBrowserBundle();
  server = await startTestServer({
    heartbeatMs: 200,
    cors: { origin: '*' },
    jobs: {
      timed: async (ctx: { progress(d: unknown): Promise<void> }) => {
        for (let i = 0; i < STEPS; i++) {
          await ctx.progress({ i, at: Date.now() });
          await sleep(GAP_MS);
        }
        return 'done';
      },
    },
  });
  page = await startPageServer(bundle);
  pageOrigin = page.origin;
});

afterAll(async () => {
  await server?.close();
  await page?.close();
});

interface Run {
  steps: number[];
  late: number[];
  result: unknown;
  transports: string[];
  moves: Array<{ from: string; to: string; reason: string }>;
  rules: string[];
  storedBefore: string[];
  storedAfter: string[];
}

/** Runs the job in a fresh Chromium profile against `url`, with racing options `extra`. */
async function runInChromium(url: string, extra: Record<string, unknown>): Promise<Run> {
  const browser = await launchChromium();
  try {
    const tab = await browser.context.newPage();
    await tab.goto(`${pageOrigin}/`);
    // A string, not a function: vitest would rewrite `import()` inside a function body.
    return (await tab.evaluate(`(async () => {
      const storedBefore = Object.keys(localStorage);
      const { connect } = await import('/outlast-client.js');
      const conn = connect(${JSON.stringify(url)}, {
        body: {},
        initialDelayMs: 20,
        maxDelayMs: 200,
        healthyAfterMs: 300,
        ...${JSON.stringify(extra)},
      });
      const steps = [], late = [], transports = [], moves = [], rules = [];
      conn.on('open', (o) => transports.push(o.transport));
      conn.on('transport', (t) => moves.push(t));
      conn.on('learn', (l) => rules.push(l.rule));
      for await (const e of conn) {
        const d = JSON.parse(e.data);
        steps.push(d.i);
        late.push(Date.now() - d.at);
      }
      return {
        steps, late, result: await conn.result, transports, moves, rules, storedBefore,
        storedAfter: Object.keys(localStorage).filter((k) => k.startsWith('outlast:path:')),
      };
    })()`)) as Run;
  } finally {
    await browser.close();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

describe('first-contact racing in Chromium', () => {
  it('through a hop holding the response head: progress on time on the first run, each event once', async () => {
    const proxy = await proxyFor(server, { knobs: holdEverything });
    try {
      const r = await runInChromium(`${proxy.base}/jobs/timed`, { holdTimeoutMs: HOLD_MS });
      console.log(
        `chromium racing: late p50 ${median(r.late)} ms, first ${r.late[0]} ms; moves ${JSON.stringify(r.moves)}`,
      );
      expect(r.storedBefore).toEqual([]);
      expect(r.steps).toEqual(Array.from({ length: STEPS }, (_, i) => i));
      expect(r.result).toBe('done');
      expect(r.transports).toEqual(['ws']);
      expect(r.moves).toHaveLength(1);
      expect(r.moves[0]).toMatchObject({ from: 'sse', to: 'ws' });
      expect(r.moves[0]!.reason).toMatch(/no response headers within \d+ ms/);
      expect(r.rules).toEqual(['buffering']);
      expect(r.storedAfter).toEqual([`outlast:path:${new URL(proxy.url).origin}`]);
      // Held until the end the p50 would be ~750 ms and the first event ~1.5 s late. The
      // first events wait for the bound (4 round trips when a loaded machine makes those
      // longer); the rest arrive on time.
      const bound = Number(/within (\d+) ms/.exec(r.moves[0]!.reason)![1]);
      expect(r.late[0]!).toBeLessThan(bound + 700);
      expect(median(r.late)).toBeLessThan(250);
    } finally {
      await proxy.close();
    }
  }, 60_000);

  it('without racing (holdTimeoutMs: null) the same hop shows nothing until the job ends', async () => {
    const proxy = await proxyFor(server, { knobs: holdEverything });
    try {
      const r = await runInChromium(`${proxy.base}/jobs/timed`, {
        holdTimeoutMs: null,
        openTimeoutMs: 30_000,
      });
      expect(r.steps).toEqual(Array.from({ length: STEPS }, (_, i) => i));
      expect(r.moves).toEqual([]);
      expect(r.late[0]!).toBeGreaterThan(STEPS * GAP_MS * 0.7);
    } finally {
      await proxy.close();
    }
  }, 60_000);
});
