import { connect as netConnect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createMetrics, type PrometheusMetrics } from '../../src/metrics/index.js';
import { createMemoryStore } from '../../src/store/index.js';
import { connect, eventsOf } from '../helpers/clients.js';
import { closeIdle, sleep, startServer, type TestServer, until } from '../helpers/server.js';

let server: TestServer | undefined;
afterEach(async () => {
  const s = server;
  server = undefined;
  await closeIdle(s); // every test is a leak test
});

async function value(
  metrics: PrometheusMetrics,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const metric = metrics.registry.getSingleMetric(name);
  if (metric === undefined) throw new Error(`no metric ${name}`);
  const data = await metric.get();
  let sum = 0;
  for (const v of data.values) {
    const l = v.labels as Record<string, unknown>;
    if ((v as { metricName?: string }).metricName?.endsWith('_bucket')) continue;
    if ((v as { metricName?: string }).metricName?.endsWith('_sum')) continue;
    if (Object.entries(labels).every(([k, want]) => String(l[k]) === want)) sum += v.value;
  }
  return sum;
}

describe('metrics', () => {
  it('counts a scripted scenario exactly', async () => {
    const metrics = createMetrics();
    server = await startServer({ metrics });
    const { outlast, base } = server;
    const a = await outlast.publish('s', { data: 'a' });
    await outlast.publish('s', { data: 'b' });

    // SSE reader leaves by itself; heartbeats every 100 ms meanwhile.
    const sse = connect('sse', base, 's', { query: { heartbeat: '100' } });
    await sse.waitFor((m) => m.type === 'heartbeat');
    await sse.waitFor(
      (m) => m.type === 'heartbeat' && m !== sse.messages.find((x) => x.type === 'heartbeat'),
    );
    expect(await value(metrics, 'outlast_connections', { transport: 'sse' })).toBe(1);
    sse.cut();
    await until(() => outlast.connections === 0, 'the SSE reader to leave');

    // WebSocket reader rotated by the server.
    const ws = connect('ws', base, 's', { lastEventId: a, query: { maxStream: '150' } });
    expect((await ws.finished).how).toBe('rotate');

    // Long-poll with a malformed id: a gap.
    const poll = await fetch(`${base}/streams/s?transport=poll&lastEventId=junk`);
    expect(((await poll.json()) as { resume: string }).resume).toBe('gap');

    // Jobs: one succeeds, one is cancelled.
    const ok = await outlast.startJob(() => 1);
    await ok.settled;
    // Ends when cancelled: a job that ignored its signal would still count as running.
    const slow = await outlast.startJob(
      (ctx) =>
        new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve())),
    );
    await slow.cancel();

    // Two clients report stalls, one sends a cause we do not know.
    const report = await fetch(`${base}/reports`, {
      method: 'POST',
      body: JSON.stringify({
        reports: [
          { cause: 'stall', transport: 'sse' },
          { cause: 'stall', transport: 'sse', sinceLastByteMs: 31_000 },
          { cause: '<script>', transport: 'carrier-pigeon' },
        ],
      }),
    });
    expect(report.status).toBe(204);
    await until(() => outlast.connections === 0, 'every connection to end');
    await sleep(50);

    expect(await value(metrics, 'outlast_connections')).toBe(0);
    expect(
      await value(metrics, 'outlast_disconnects_total', {
        transport: 'sse',
        reason: 'client-closed',
      }),
    ).toBe(1);
    expect(
      await value(metrics, 'outlast_disconnects_total', { transport: 'ws', reason: 'rotation' }),
    ).toBe(1);
    expect(
      await value(metrics, 'outlast_connection_duration_seconds', {
        transport: 'ws',
        reason: 'rotation',
      }),
    ).toBe(1); // the _count sample
    expect(await value(metrics, 'outlast_resumes_total', { outcome: 'fresh' })).toBe(1);
    expect(await value(metrics, 'outlast_resumes_total', { outcome: 'recovered' })).toBe(1);
    expect(
      await value(metrics, 'outlast_resumes_total', { outcome: 'gap', reason: 'malformed' }),
    ).toBe(1);
    expect(
      await value(metrics, 'outlast_heartbeats_sent_total', { transport: 'sse' }),
    ).toBeGreaterThanOrEqual(2);
    // 2 published + 2 job final events.
    expect(await value(metrics, 'outlast_events_published_total')).toBe(2);
    expect(await value(metrics, 'outlast_jobs_total', { state: 'started' })).toBe(2);
    expect(await value(metrics, 'outlast_jobs_total', { state: 'succeeded' })).toBe(1);
    expect(await value(metrics, 'outlast_jobs_total', { state: 'cancelled' })).toBe(1);
    expect(await value(metrics, 'outlast_jobs_running')).toBe(0);
    expect(
      await value(metrics, 'outlast_client_disconnects_total', {
        cause: 'stall',
        transport: 'sse',
      }),
    ).toBe(2);
    expect(
      await value(metrics, 'outlast_client_disconnects_total', {
        cause: 'other',
        transport: 'other',
      }),
    ).toBe(1);

    const text = await (await metrics.fetch()).text();
    expect(text).toContain('outlast_client_disconnects_total{cause="stall",transport="sse"} 2');
  });

  it('disconnects a reader that does not read (backpressure); it resumes without loss', async () => {
    const metrics = createMetrics();
    server = await startServer({
      metrics,
      maxBufferBytes: 256 * 1024,
      store: createMemoryStore({
        maxBytesPerStream: 256 * 1024 * 1024,
        maxTotalBytes: 512 * 1024 * 1024,
      }),
    });
    const { outlast, origin, base } = server;
    await outlast.publish('big', { data: 'start' });
    // A raw socket that sends the request and then never reads a byte.
    const socket = netConnect({ host: '127.0.0.1', port: Number(new URL(origin).port) });
    socket.pause();
    socket.write(`GET /outlast/streams/big HTTP/1.1\r\nHost: x\r\n\r\n`);
    await until(() => outlast.connections === 1, 'the slow reader to connect');
    const chunk = 'x'.repeat(64 * 1024);
    for (let i = 0; i < 400 && outlast.connections === 1; i++) {
      await outlast.publish('big', { data: `${i}:${chunk}` });
      if (i % 8 === 0) await sleep(1);
    }
    await until(() => outlast.connections === 0, 'the slow reader to be cut');
    socket.destroy();
    expect(
      await value(metrics, 'outlast_disconnects_total', {
        transport: 'sse',
        reason: 'backpressure',
      }),
    ).toBe(1);
    // The same client, reading this time, resumes from the start and gets everything.
    const conn = connect('sse', base, 'big');
    const total = (await outlast.store.info('big'))!.length;
    await until(() => eventsOf(conn.messages).length === total, 'the resumed read', 10_000);
    conn.cut();
  });
});
