import type { ServerResponse } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/index.js';
import { type ChaosProxy, createProxy } from '../../src/proxy/index.js';
import { sleep } from '../helpers/server.js';
import {
  expectIdle,
  readSse,
  startTestGateway,
  startTestUpstream,
  type TestGateway,
  type TestUpstream,
  userEvents,
} from './helpers.js';

/*
 * The mitigation guide's case: an OpenAI-compatible API answering in 3 minutes (2 minutes of
 * reasoning in silence, then a token a second), streamed through Cloudflare's 100 s idle
 * clock. Time-scaled 100 times. The guide measured 0 % success direct; the gateway (beside the
 * API, behind Cloudflare) sends heartbeats while the upstream thinks.
 */
const SCALE = 0.01;
const THINK_MS = 120_000 * SCALE;
const TOKENS = 60;
const TOKEN_MS = 1_000 * SCALE;
const ATTEMPTS = 4;

function streamTokens(res: ServerResponse, write: (i: number) => string, done: () => string): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  res.flushHeaders();
  let i = 0;
  const next = () => {
    if (res.destroyed) return;
    if (i === TOKENS) {
      res.end(done());
      return;
    }
    res.write(write(i++));
    setTimeout(next, TOKEN_MS);
  };
  setTimeout(next, THINK_MS);
}

let up: TestUpstream;
let gw: TestGateway;
let direct: ChaosProxy;
let viaGateway: ChaosProxy;

beforeAll(async () => {
  up = await startTestUpstream({
    '/v1/chat/completions': (_req, res, body) => {
      const { model } = JSON.parse(body.toString()) as { model: string };
      const chunk = (delta: object, finish: string | null) =>
        `data: ${JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
      streamTokens(
        res,
        (i) => chunk({ content: `t${i} ` }, null),
        () => `${chunk({}, 'stop')}data: [DONE]\n\n`,
      );
    },
    '/v1/responses': (_req, res) => {
      let seq = 0;
      const event = (type: string, extra: object) =>
        `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq++, ...extra })}\n\n`;
      streamTokens(
        res,
        (i) =>
          (i === 0
            ? event('response.created', { response: { id: 'resp_1', status: 'in_progress' } })
            : '') +
          event('response.output_text.delta', {
            item_id: 'msg_1',
            output_index: 0,
            content_index: 0,
            delta: `t${i} `,
          }),
        () => event('response.completed', { response: { id: 'resp_1', status: 'completed' } }),
      );
    },
  });
  gw = await startTestGateway({
    upstream: up.url,
    routes: [{ method: 'POST', path: '/v1/*', mode: 'stream' }],
    heartbeatMs: 150, // 15 s
  });
  direct = await createProxy({ target: up.url, preset: 'cloudflare', timeScale: SCALE });
  viaGateway = await createProxy({ target: gw.url, preset: 'cloudflare', timeScale: SCALE });
});
afterAll(async () => {
  await direct.close();
  await viaGateway.close();
  await gw.close();
  await up.close();
});
afterEach(async () => {
  await expectIdle(gw.gateway);
});

/** An OpenAI SDK's request: POST with a JSON body, the SSE answer read to its end. */
function post(base: string, path: string, init: RequestInit = {}) {
  return readSse(`${base}${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json',
      ...(init.headers as Record<string, string>),
    },
    body: JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
  });
}

describe('an OpenAI-compatible API through Cloudflare: the guide table, time-scaled', () => {
  it('/v1/chat/completions: direct 0 % complete, through the gateway 100 %, every chunk and [DONE]', async () => {
    const [directRuns, gatewayRuns] = await Promise.all([
      Promise.all(Array.from({ length: ATTEMPTS }, () => post(direct.url, '/v1/chat/completions'))),
      Promise.all(
        Array.from({ length: ATTEMPTS }, () => post(viaGateway.url, '/v1/chat/completions')),
      ),
    ]);
    const complete = (r: Awaited<ReturnType<typeof post>>) =>
      userEvents(r).at(-1)?.data === '[DONE]';
    expect(directRuns.filter(complete)).toHaveLength(0);
    // Cut by Cloudflare's idle clock while the model was thinking (524 or a cut body).
    expect(directRuns.every((r) => userEvents(r).length === 0)).toBe(true);
    expect(gatewayRuns.filter(complete)).toHaveLength(ATTEMPTS);
    for (const r of gatewayRuns) {
      const chunks = userEvents(r)
        .slice(0, -1)
        .map((e) => JSON.parse(e.data) as { choices: { delta: { content?: string } }[] });
      expect(chunks.map((c) => c.choices[0]!.delta.content ?? '').join('')).toBe(
        Array.from({ length: TOKENS }, (_, i) => `t${i} `).join(''),
      );
    }
    expect(up.hits.get('/v1/chat/completions')).toBe(2 * ATTEMPTS);
  });

  it('/v1/responses: typed events in sequence_number order, direct 0 %, through the gateway 100 %', async () => {
    const [directRuns, gatewayRuns] = await Promise.all([
      Promise.all(Array.from({ length: ATTEMPTS }, () => post(direct.url, '/v1/responses'))),
      Promise.all(Array.from({ length: ATTEMPTS }, () => post(viaGateway.url, '/v1/responses'))),
    ]);
    const complete = (r: Awaited<ReturnType<typeof post>>) =>
      userEvents(r).at(-1)?.type === 'response.completed';
    expect(directRuns.filter(complete)).toHaveLength(0);
    expect(gatewayRuns.filter(complete)).toHaveLength(ATTEMPTS);
    for (const r of gatewayRuns) {
      const events = userEvents(r);
      expect(events[0]!.type).toBe('response.created');
      expect(
        events.map((e) => (JSON.parse(e.data) as { sequence_number: number }).sequence_number),
      ).toEqual(events.map((_, i) => i));
      expect(events.map((e) => e.type)).toEqual(
        events.map((e) => (JSON.parse(e.data) as { type: string }).type),
      );
    }
  });

  it('a POST stream that is cut resumes with Last-Event-ID: the same run, no second request to the model', async () => {
    up.hits.clear();
    const first = await readSse(
      `${viaGateway.url}/v1/chat/completions`,
      { method: 'POST', body: '{"model":"m","stream":true}' },
      (events) => events.filter((e) => !e.type.startsWith('outlast.')).length >= 10,
    );
    await sleep(100);
    const second = await readSse(`${viaGateway.url}/v1/chat/completions`, {
      method: 'POST',
      body: '{"model":"m","stream":true}',
      headers: { 'last-event-id': first.events.at(-1)!.id! },
    });
    const all = [...userEvents(first), ...userEvents(second)].map((e) => e.data);
    expect(all).toHaveLength(TOKENS + 2);
    expect(all.at(-1)).toBe('[DONE]');
    expect(new Set(all).size).toBe(all.length);
    expect(up.hits.get('/v1/chat/completions')).toBe(1);
  });

  it('the outlast client gets the answer as a job (Prefer: respond-async)', async () => {
    const conn = connect(`${viaGateway.url}/v1/chat/completions`, {
      body: { model: 'm', stream: true },
      headers: { prefer: 'respond-async' },
      WebSocket: null,
    });
    const data: string[] = [];
    for await (const e of conn) data.push(e.data);
    expect(data).toHaveLength(TOKENS + 2);
    expect(data.at(-1)).toBe('[DONE]');
    expect(await conn.result).toMatchObject({ status: 200, events: TOKENS + 2 });
  });
});
