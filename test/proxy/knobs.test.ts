import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChaosProxy, createProxy, type HopKnobs } from '../../src/proxy/index.js';
import { rawRequest } from '../helpers/proxy-client.js';
import { freePort } from '../helpers/proxy-real.js';
import { startUpstream, type Upstream } from '../helpers/proxy-upstream.js';
import { wsOutcome } from '../helpers/proxy-ws.js';

let up: Upstream;
beforeAll(async () => {
  up = await startUpstream();
});
afterAll(async () => {
  await up.close();
});

async function withProxy<T>(
  knobs: Partial<HopKnobs>,
  fn: (p: ChaosProxy) => Promise<T>,
  target?: string,
): Promise<T> {
  const p = await createProxy({ target: target ?? up.url, knobs });
  try {
    return await fn(p);
  } finally {
    await p.close();
  }
}

describe('clocks', { retry: 2 }, () => {
  it('idle clock before headers answers timeoutStatus', () =>
    withProxy({ idleMs: 200, timeoutStatus: 504 }, async (p) => {
      const r = await rawRequest(`${p.url}/hang`);
      expect(r.status).toBe(504);
      expect(r.end).toBe('complete');
      expect(r.endAt).toBeGreaterThan(180);
      expect(r.endAt).toBeLessThan(400);
      expect(p.hops[0]!.stats.cuts.idle).toBe(1);
    }));

  it('idle clock after headers cuts with FIN; traffic resets it', () =>
    withProxy({ idleMs: 200 }, async (p) => {
      const silent = await rawRequest(`${p.url}/silent`);
      expect(silent.status).toBe(200);
      expect(silent.end).toBe('fin');
      expect(silent.endAt).toBeGreaterThan(180);
      expect(silent.endAt).toBeLessThan(400);
      const busy = await rawRequest(`${p.url}/sse?every=50&count=12`);
      expect(busy.end).toBe('complete');
      expect(busy.chunks.length).toBe(12);
    }));

  it('idle clock is reset by request body bytes too', () =>
    withProxy({ idleMs: 200 }, async (p) => {
      const socket = connect(Number(new URL(p.url).port), '127.0.0.1');
      let response = '';
      socket.on('data', (d) => {
        response += d.toString();
      });
      await new Promise((r) => socket.once('connect', r));
      socket.write('POST /echo HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n');
      for (let i = 0; i < 6; i++) {
        await new Promise((r) => setTimeout(r, 100));
        socket.write('1\r\na\r\n');
      }
      socket.write('0\r\n\r\n');
      await new Promise((r) => setTimeout(r, 100));
      socket.destroy();
      expect(response).toMatch(/^HTTP\/1.1 200/);
      expect(response).toContain('aaaaaa');
    }));

  it('total clock fires despite traffic: before headers a 504, after a cut', () =>
    withProxy({ totalMs: 300 }, async (p) => {
      const late = await rawRequest(`${p.url}/late?ms=1000`);
      expect(late.status).toBe(504);
      expect(late.endAt).toBeGreaterThan(280);
      expect(late.endAt).toBeLessThan(500);
      const busy = await rawRequest(`${p.url}/sse?every=30&count=0`);
      expect(busy.status).toBe(200);
      expect(busy.end).toBe('fin');
      expect(busy.endAt).toBeGreaterThan(280);
      expect(busy.endAt).toBeLessThan(500);
      expect(busy.chunks.length).toBeGreaterThan(5);
    }));

  it('first-byte clock stops at headers', () =>
    withProxy({ firstByteMs: 200 }, async (p) => {
      const late = await rawRequest(`${p.url}/late?ms=600`);
      expect(late.status).toBe(504);
      expect(late.endAt).toBeLessThan(400);
      const silent = await rawRequest(`${p.url}/silent`, { timeoutMs: 600 });
      expect(silent.status).toBe(200);
      expect(silent.end).toBe('timeout');
    }));

  it('write-deadline total clock shows only at the next write', () =>
    withProxy({ totalMs: 200, totalMode: 'write-deadline' }, async (p) => {
      // Silent for 500 ms, then one event: the stream looks alive until that write.
      const r = await rawRequest(`${p.url}/sse?every=500&count=3`);
      expect(r.status).toBe(200);
      expect(r.end).toBe('fin');
      expect(r.chunks.length).toBe(0);
      expect(r.endAt).toBeGreaterThan(450);
      expect(p.hops[0]!.stats.cuts['write-deadline']).toBe(1);
      // Headers after the deadline: no response at all (a Go write deadline).
      const late = await rawRequest(`${p.url}/late?ms=400`);
      expect(late.status).toBeNull();
      expect(late.end).toBe('fin');
    }));

  it('cut: rst resets the connection', () =>
    withProxy({ idleMs: 150, cut: 'rst' }, async (p) => {
      const r = await rawRequest(`${p.url}/silent`);
      expect(r.status).toBe(200);
      expect(r.end).toBe('rst');
    }));

  it('cut: silent drops the connection without a word; the next send gets a RST', () =>
    withProxy({ idleMs: 100, cut: 'silent' }, async (p) => {
      // Silent for 300 ms, then an event that never arrives; the connection does not end.
      const r = await rawRequest(`${p.url}/sse?every=300&count=3`, { timeoutMs: 700 });
      expect(r.status).toBe(200);
      expect(r.chunks.length).toBe(0);
      expect(r.end).toBe('timeout');
      const before = await rawRequest(`${p.url}/hang`, { timeoutMs: 400 });
      expect(before.status).toBeNull();
      expect(before.end).toBe('timeout');
      // A client that sends after the drop gets a reset.
      const socket = connect(Number(new URL(p.url).port), '127.0.0.1');
      socket.write('GET /silent HTTP/1.1\r\nhost: x\r\n\r\n');
      await new Promise((r) => setTimeout(r, 250));
      const ended = new Promise<string>((resolve) => {
        socket.on('error', (e: NodeJS.ErrnoException) => resolve(String(e.code)));
        socket.on('close', () => resolve('close'));
      });
      socket.write('x');
      expect(await ended).toBe('ECONNRESET');
    }));

  it('timeoutStatus and fingerprint error pages', () =>
    withProxy({ idleMs: 100, timeoutStatus: 524, fingerprint: 'cloudflare' }, async (p) => {
      const r = await rawRequest(`${p.url}/hang`);
      expect(r.status).toBe(524);
      expect(r.headers.server).toBe('cloudflare');
      expect(r.headers['cf-ray']).toMatch(/^[0-9a-f]{16}-SJC$/);
      expect(r.body).toContain('A timeout occurred');
    }));
});

describe('upstream errors and bad input', () => {
  it('unreachable target: upstreamErrorStatus, after upstreamErrorDelayMs', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    await withProxy(
      { upstreamErrorStatus: 502 },
      async (p) => {
        const r = await rawRequest(`${p.url}/x`);
        expect(r.status).toBe(502);
        expect(r.endAt).toBeLessThan(200);
      },
      dead,
    );
    await withProxy(
      { upstreamErrorStatus: 503, upstreamErrorDelayMs: 300 },
      async (p) => {
        const r = await rawRequest(`${p.url}/x`);
        expect(r.status).toBe(503);
        expect(r.endAt).toBeGreaterThan(280);
      },
      dead,
    );
  });

  it('upstream dying mid-body closes the client connection', () =>
    withProxy({}, async (p) => {
      const r = await rawRequest(`${p.url}/die?after=100`);
      expect(r.status).toBe(200);
      expect(r.body).toContain('first');
      expect(r.end).toBe('fin');
    }));

  it('malformed requests get 400', () =>
    withProxy({}, async (p) => {
      const r = await rawRequest(p.url, { raw: 'NOT HTTP AT ALL\r\n\r\n' });
      expect(r.status).toBe(400);
      expect(p.hops[0]!.stats.badRequests).toBe(1);
    }));

  it('rejects bad knob values with a typed error', async () => {
    await expect(createProxy({ target: up.url, knobs: { idleMs: -1 } })).rejects.toMatchObject({
      code: 'invalid-option',
    });
    await expect(
      createProxy({ target: up.url, knobs: { nope: 1 } as unknown as Partial<HopKnobs> }),
    ).rejects.toMatchObject({ code: 'unknown-knob' });
    await expect(createProxy({ target: up.url, preset: 'nope' })).rejects.toMatchObject({
      code: 'unknown-preset',
      message: expect.stringContaining('aws-service-connect'),
    });
    await expect(createProxy({ target: 'ftp://x' })).rejects.toMatchObject({
      code: 'invalid-option',
    });
    await expect(createProxy({ target: up.url, timeScale: 0 })).rejects.toMatchObject({
      code: 'invalid-option',
    });
  });
});

describe('buffering', { retry: 2 }, () => {
  it('bufferBytes holds until N bytes, then releases them together', () =>
    withProxy({ bufferBytes: 40 }, async (p) => {
      // Each event is 11 bytes: released in groups of 4 (44 >= 40), the rest at the end.
      const r = await rawRequest(`${p.url}/sse?every=40&count=10`);
      expect(r.end).toBe('complete');
      expect(r.chunks.map((c) => c.text.length)).toEqual([44, 44, 23]);
    }));

  it('holdWhole holds everything until the end', () =>
    withProxy({ holdWhole: true }, async (p) => {
      const r = await rawRequest(`${p.url}/sse?every=30&count=8`);
      expect(r.chunks.length).toBe(1);
      expect(r.chunks[0]!.at).toBeGreaterThan(220);
    }));

  it('bufferTypes limits buffering to some content types', () =>
    withProxy({ holdWhole: true, bufferTypes: ['text/event-stream'] }, async (p) => {
      const other = await rawRequest(`${p.url}/sse?every=30&count=5&type=text/plain`);
      expect(other.chunks.length).toBe(5);
      const sse = await rawRequest(`${p.url}/sse?every=30&count=5`);
      expect(sse.chunks.length).toBe(1);
    }));

  it('bufferOptOut: X-Accel-Buffering: no and Cache-Control: no-transform', async () => {
    await withProxy({ holdWhole: true, bufferOptOut: ['x-accel-buffering'] }, async (p) => {
      expect((await rawRequest(`${p.url}/sse?every=30&count=5&accel=no`)).chunks.length).toBe(5);
      expect((await rawRequest(`${p.url}/sse?every=30&count=5&notransform=1`)).chunks.length).toBe(
        1,
      );
    });
    await withProxy({ holdWhole: true, bufferOptOut: ['no-transform'] }, async (p) => {
      expect((await rawRequest(`${p.url}/sse?every=30&count=5&notransform=1`)).chunks.length).toBe(
        5,
      );
    });
  });

  it('bufferNeedsGzip buffers only requests that accept gzip', () =>
    withProxy({ holdWhole: true, bufferNeedsGzip: true }, async (p) => {
      expect((await rawRequest(`${p.url}/sse?every=30&count=5`)).chunks.length).toBe(5);
      const gz = await rawRequest(`${p.url}/sse?every=30&count=5`, {
        headers: { 'accept-encoding': 'gzip, deflate' },
      });
      expect(gz.chunks.length).toBe(1);
    }));

  it('headWaitsForBody holds the head until the first body bytes', () =>
    withProxy({ headWaitsForBody: true, idleMs: 300 }, async (p) => {
      const r = await rawRequest(`${p.url}/sse?every=150&count=2`);
      expect(r.headAt).toBeGreaterThan(130);
      // Silent: the head goes out with the cut (nginx: 200, then FIN).
      const silent = await rawRequest(`${p.url}/silent`);
      expect(silent.status).toBe(200);
      expect(silent.headAt).toBeGreaterThan(280);
      expect(silent.end).toBe('fin');
    }));

  it('corkMs sends writes together at most corkMs after the first', () =>
    withProxy({ corkMs: 150 }, async (p) => {
      const r = await rawRequest(`${p.url}/sse?every=40&count=8`);
      expect(r.headAt).toBeGreaterThan(130);
      expect(r.chunks.length).toBeGreaterThanOrEqual(8);
      const times = new Set(r.chunks.map((c) => Math.round(c.at / 20)));
      expect(times.size).toBeLessThan(5);
    }));
});

describe('WebSocket policy', { retry: 2 }, () => {
  it('pass: tunnels with the WebSocket idle clock', () =>
    withProxy({ idleMs: 200 }, async (p) => {
      const busy = await wsOutcome(p.url, 50, 700);
      expect(busy.status).toBe(101);
      expect(busy.closedAt).toBeNull();
      expect(busy.messages).toBeGreaterThan(8);
      const silent = await wsOutcome(p.url, 0, 700);
      expect(silent.closedAt).toBeGreaterThan(180);
      expect(silent.closedAt).toBeLessThan(450);
    }));

  it('websocketIdleMs overrides the idle clock for tunnels', () =>
    withProxy({ idleMs: 100, websocketIdleMs: null }, async (p) => {
      expect((await wsOutcome(p.url, 0, 500)).closedAt).toBeNull();
    }));

  it('websocketTotalMs: inherit applies the total clock, null exempts tunnels', async () => {
    await withProxy({ totalMs: 250 }, async (p) => {
      const ws = await wsOutcome(p.url, 50, 800);
      expect(ws.closedAt).toBeGreaterThan(230);
      expect(ws.closedAt).toBeLessThan(500);
    });
    await withProxy({ totalMs: 250, websocketTotalMs: null }, async (p) => {
      expect((await wsOutcome(p.url, 50, 800)).closedAt).toBeNull();
    });
    await withProxy({ websocketTotalMs: 200 }, async (p) => {
      expect((await wsOutcome(p.url, 50, 800)).closedAt).toBeLessThan(450);
    });
  });

  it('refuse answers 403 or 426', async () => {
    await withProxy({ websocket: 'refuse' }, async (p) => {
      expect((await wsOutcome(p.url, 50, 500)).status).toBe(403);
    });
    await withProxy({ websocket: 'refuse', websocketRefuseStatus: 426 }, async (p) => {
      expect((await wsOutcome(p.url, 50, 500)).status).toBe(426);
    });
  });
});

describe('fingerprints', () => {
  it('adds request and response headers, x-forwarded-for and custom headers', () =>
    withProxy(
      {
        fingerprint: 'envoy',
        totalMs: 15_000,
        addRequestHeaders: { 'x-test': 'in' },
        addResponseHeaders: { 'x-seen': 'out' },
      },
      async (p) => {
        const r = await rawRequest(`${p.url}/headers`, {
          headers: { 'x-forwarded-for': '10.0.0.1' },
        });
        const seen = JSON.parse(r.body) as Record<string, string>;
        expect(seen['x-forwarded-for']).toBe('10.0.0.1, 127.0.0.1');
        expect(seen['x-envoy-expected-rq-timeout-ms']).toBe('15000');
        expect(seen['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
        expect(seen['x-test']).toBe('in');
        expect(r.headers.server).toBe('envoy');
        expect(r.headers['x-envoy-upstream-service-time']).toMatch(/^\d+$/);
        expect(r.headers['x-seen']).toBe('out');
      },
    ));
});

describe('faults', { retry: 2 }, () => {
  it('latency and jitter delay the head and every chunk', () =>
    withProxy({ latencyMs: 150, jitterMs: 50 }, async (p) => {
      const r = await rawRequest(`${p.url}/bytes?n=10`);
      expect(r.headAt).toBeGreaterThan(140);
      expect(r.headAt).toBeLessThan(400);
      expect(r.body).toBe('a'.repeat(10));
    }));

  it('bandwidth limits bytes per second', () =>
    withProxy({ bandwidthBytesPerSec: 20_000 }, async (p) => {
      const r = await rawRequest(`${p.url}/bytes?n=8000`);
      expect(r.body.length).toBe(8000);
      expect(r.endAt).toBeGreaterThan(300);
      expect(r.endAt).toBeLessThan(1200);
    }));

  it('resetAfterBytes resets after exactly N body bytes', () =>
    withProxy({ resetAfterBytes: 1234 }, async (p) => {
      const r = await rawRequest(`${p.url}/bytes?n=10000`);
      expect(r.end).toBe('rst');
      expect(r.body.length).toBe(1234);
    }));

  it('resetProbability resets about that share of exchanges at a random byte', () =>
    withProxy({ resetProbability: 0.5, resetMaxBytes: 500 }, async (p) => {
      const results = [];
      for (let i = 0; i < 40; i++) results.push(await rawRequest(`${p.url}/bytes?n=1000`));
      const resets = results.filter((r) => r.end === 'rst');
      expect(resets.length).toBeGreaterThan(8);
      expect(resets.length).toBeLessThan(32);
      for (const r of resets) expect(r.body.length).toBeLessThanOrEqual(500);
      for (const r of results.filter((x) => x.end !== 'rst')) expect(r.body.length).toBe(1000);
    }));

  it('sliceBytes writes small pieces', () =>
    withProxy({ sliceBytes: 3, sliceDelayMs: 5 }, async (p) => {
      const r = await rawRequest(`${p.url}/bytes?n=30`);
      expect(r.body).toBe('a'.repeat(30));
      expect(r.chunks.length).toBeGreaterThanOrEqual(5);
      expect(Math.max(...r.chunks.map((c) => c.text.length))).toBeLessThanOrEqual(6);
    }));

  it('refuseConnections resets new connections; runtime changes take effect', () =>
    withProxy({ refuseConnections: true }, async (p) => {
      const r = await rawRequest(`${p.url}/bytes?n=5`);
      expect(['rst', 'fin']).toContain(r.end);
      expect(r.status).toBeNull();
      p.set({ refuseConnections: false });
      expect((await rawRequest(`${p.url}/bytes?n=5`)).status).toBe(200);
      expect(p.hops[0]!.stats.refusedConnections).toBe(1);
    }));
});
