import WebSocket from 'ws';
import { createParser } from '../../src/wire/index.js';

/** What any transport delivered, normalised. */
export type Message =
  | { type: 'open'; heartbeatMs: number; maxStreamMs: number | null; resume: string }
  | { type: 'gap'; requested: string; resumeFrom: string | null; reason: string }
  | { type: 'event'; id: string; event: string; data: string }
  | { type: 'heartbeat'; t: number; at: number }
  | { type: 'rotate' }
  | { type: 'end' };

/** How a connection finished. */
export interface Finish {
  /** `end`/`rotate`: the server said so; `closed`: it ended without a notice; `cut`: we cut. */
  how: 'end' | 'rotate' | 'closed' | 'cut' | 'refused';
  status?: number;
  body?: string;
  closeCode?: number;
  closeReason?: string;
}

/** One read of a stream over one transport. */
export interface Connection {
  readonly messages: Message[];
  readonly finished: Promise<Finish>;
  /** Cuts the connection from the client side. */
  cut(): void;
  /** Resolves when a message matching `predicate` has arrived. */
  waitFor(predicate: (m: Message) => boolean, timeoutMs?: number): Promise<Message>;
}

export type TransportKind = 'sse' | 'ws' | 'poll';

export interface ConnectOptions {
  lastEventId?: string | null;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  /** WebSocket only: send the resume position as a first frame instead of in the query. */
  helloFrame?: boolean;
}

function makeConnection(): Connection & {
  push(m: Message): void;
  finish(f: Finish): void;
  onCut: () => void;
} {
  const messages: Message[] = [];
  const waiters: { predicate: (m: Message) => boolean; resolve: (m: Message) => void }[] = [];
  let finish!: (f: Finish) => void;
  const finished = new Promise<Finish>((resolve) => {
    finish = resolve;
  });
  const conn = {
    messages,
    finished,
    onCut: () => {},
    cut() {
      conn.onCut();
      finish({ how: 'cut' });
    },
    push(m: Message) {
      messages.push(m);
      for (const w of [...waiters]) {
        if (w.predicate(m)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(m);
        }
      }
    },
    finish: (f: Finish) => finish(f),
    waitFor(predicate: (m: Message) => boolean, timeoutMs = 5000) {
      const found = messages.find(predicate);
      if (found !== undefined) return Promise.resolve(found);
      return new Promise<Message>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error('timed out waiting for a message')),
          timeoutMs,
        );
        waiters.push({
          predicate,
          resolve: (m) => {
            clearTimeout(timer);
            resolve(m);
          },
        });
      });
    },
  };
  return conn;
}

function streamUrl(base: string, streamId: string, kind: TransportKind, o: ConnectOptions): URL {
  const url = new URL(`${base}/streams/${encodeURIComponent(streamId)}`);
  if (kind !== 'sse') url.searchParams.set('transport', kind);
  if (o.lastEventId !== undefined && !(kind === 'ws' && o.helloFrame === true)) {
    url.searchParams.set('lastEventId', o.lastEventId ?? '');
  } else if (kind === 'ws' && o.helloFrame !== true) {
    // Without it the server waits for a resume frame (docs/protocol.md).
    url.searchParams.set('lastEventId', '');
  }
  for (const [k, v] of Object.entries(o.query ?? {})) url.searchParams.set(k, v);
  return url;
}

/** SSE with fetch and our own parser. */
export function connectSse(base: string, streamId: string, o: ConnectOptions = {}): Connection {
  const conn = makeConnection();
  const controller = new AbortController();
  conn.onCut = () => controller.abort();
  const parser = createParser({
    onComment: (text) => {
      if (text.startsWith('hb '))
        conn.push({ type: 'heartbeat', t: Number(text.slice(3)), at: Date.now() });
    },
    onEvent: (e) => {
      if (e.type === 'outlast.open') conn.push({ type: 'open', ...JSON.parse(e.data) });
      else if (e.type === 'outlast.gap') conn.push({ type: 'gap', ...JSON.parse(e.data) });
      else if (e.type === 'outlast.rotate') conn.push({ type: 'rotate' });
      else if (e.type === 'outlast.end') conn.push({ type: 'end' });
      else conn.push({ type: 'event', id: e.id ?? '', event: e.type, data: e.data });
    },
  });
  (async () => {
    try {
      const res = await fetch(streamUrl(base, streamId, 'sse', o), {
        headers: o.headers,
        signal: controller.signal,
      });
      if (res.status !== 200) {
        conn.finish({ how: 'refused', status: res.status, body: await res.text() });
        return;
      }
      const reader = res.body!.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        parser.feed(value);
      }
      const last = conn.messages.at(-1);
      conn.finish({
        how: last?.type === 'end' ? 'end' : last?.type === 'rotate' ? 'rotate' : 'closed',
      });
    } catch {
      conn.finish({ how: controller.signal.aborted ? 'cut' : 'closed' });
    }
  })();
  return conn;
}

/** WebSocket with `ws`. */
export function connectWs(base: string, streamId: string, o: ConnectOptions = {}): Connection {
  const conn = makeConnection();
  const url = streamUrl(base.replace(/^http/, 'ws'), streamId, 'ws', o);
  url.searchParams.delete('transport');
  const ws = new WebSocket(url, { headers: o.headers });
  conn.onCut = () => ws.terminate();
  ws.on('open', () => {
    if (o.helloFrame === true) {
      ws.send(JSON.stringify({ type: 'resume', lastEventId: o.lastEventId ?? null }));
    }
  });
  ws.on('unexpected-response', (_req, res) => {
    let body = '';
    res.on('data', (c: Buffer) => {
      body += c;
    });
    res.on('end', () => conn.finish({ how: 'refused', status: res.statusCode, body }));
  });
  ws.on('message', (data) => {
    const m = JSON.parse(String(data)) as Record<string, unknown> & { type: string };
    if (m.type === 'heartbeat') conn.push({ type: 'heartbeat', t: m.t as number, at: Date.now() });
    else if (m.type === 'event') conn.push(m as unknown as Message);
    else conn.push(m as unknown as Message);
  });
  ws.on('error', () => {});
  ws.on('close', (code, reason) => {
    const last = conn.messages.at(-1);
    conn.finish({
      how: last?.type === 'end' ? 'end' : last?.type === 'rotate' ? 'rotate' : 'closed',
      closeCode: code,
      closeReason: String(reason),
    });
  });
  return conn;
}

/** Long-polling with fetch: polls until the stream ends or the connection is cut. */
export function connectPoll(base: string, streamId: string, o: ConnectOptions = {}): Connection {
  const conn = makeConnection();
  const controller = new AbortController();
  conn.onCut = () => controller.abort();
  let lastEventId = o.lastEventId;
  (async () => {
    let first = true;
    try {
      for (;;) {
        const res = await fetch(
          streamUrl(base, streamId, 'poll', {
            ...o,
            lastEventId,
            query: { wait: '2000', ...o.query },
          }),
          { headers: o.headers, signal: controller.signal },
        );
        if (res.status !== 200) {
          conn.finish({ how: 'refused', status: res.status, body: await res.text() });
          return;
        }
        const body = (await res.json()) as {
          events: { id: string; event: string; data: string }[];
          lastEventId: string | null;
          resume: string;
          gap: null | { requested: string; resumeFrom: string | null; reason: string };
          end: boolean;
          heartbeatMs: number;
        };
        if (first) {
          conn.push({
            type: 'open',
            heartbeatMs: body.heartbeatMs,
            maxStreamMs: null,
            resume: body.resume,
          });
          first = false;
        }
        if (body.gap !== null) conn.push({ type: 'gap', ...body.gap });
        for (const e of body.events) conn.push({ type: 'event', ...e });
        lastEventId = body.lastEventId;
        if (body.end) {
          conn.push({ type: 'end' });
          conn.finish({ how: 'end' });
          return;
        }
      }
    } catch {
      conn.finish({ how: controller.signal.aborted ? 'cut' : 'closed' });
    }
  })();
  return conn;
}

/** Connects over `kind`. */
export function connect(
  kind: TransportKind,
  base: string,
  streamId: string,
  o: ConnectOptions = {},
): Connection {
  if (kind === 'sse') return connectSse(base, streamId, o);
  if (kind === 'ws') return connectWs(base, streamId, o);
  return connectPoll(base, streamId, o);
}

/** The user events of a list of messages. */
export function eventsOf(messages: Message[]): { id: string; event: string; data: string }[] {
  return messages.filter((m): m is Extract<Message, { type: 'event' }> => m.type === 'event');
}
