import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createOutlast, type Outlast } from '../../src/server/index.js';
import { createParser } from '../../src/wire/index.js';
import { closeIdle } from '../helpers/server.js';

/*
 * Property: whatever the interleaving of publishes and client cuts, a client that resumes
 * from its last id receives every event exactly once, in order. Driven through the
 * fetch-style handler in-process (no sockets), so hundreds of scenarios run in seconds.
 */

type Got = { id: string; data: string };

/** Reads an SSE response until `want` user events arrived (or the stream ended), then cuts. */
async function readSse(
  outlast: Outlast,
  lastId: string | null,
  want: number,
): Promise<{ got: Got[]; ended: boolean }> {
  const url = new URL('http://test/outlast/streams/p');
  if (lastId !== null) url.searchParams.set('lastEventId', lastId);
  const res = await outlast.fetch(new Request(url));
  if (res.status === 204) return { got: [], ended: true };
  const got: Got[] = [];
  let ended = false;
  const parser = createParser({
    onEvent: (e) => {
      if (e.type === 'outlast.end') ended = true;
      else if (!e.type.startsWith('outlast.')) got.push({ id: e.id!, data: e.data });
    },
  });
  const reader = res.body!.getReader();
  while (got.length < want && !ended) {
    const { done, value } = await reader.read();
    if (done) break;
    parser.feed(value);
  }
  await reader.cancel();
  return { got: got.slice(0, Math.max(want, 0)), ended };
}

async function readPoll(
  outlast: Outlast,
  lastId: string | null,
  want: number,
): Promise<{ got: Got[]; ended: boolean }> {
  const url = new URL('http://test/outlast/streams/p?transport=poll&wait=0');
  if (lastId !== null) url.searchParams.set('lastEventId', lastId);
  const body = (await (await outlast.fetch(new Request(url))).json()) as {
    events: { id: string; event: string; data: string }[];
    end: boolean;
  };
  const users = body.events.filter((e) => !e.event.startsWith('outlast.'));
  // A cut mid-answer: the client keeps only the first `want` events.
  const got = users.slice(0, want).map((e) => ({ id: e.id, data: e.data }));
  return { got, ended: body.end && got.length === users.length };
}

describe('resume property', () => {
  it.each(['sse', 'poll'] as const)(
    'no loss and no duplicate over any interleaving of publishes and cuts (%s)',
    async (kind) => {
      const read = kind === 'sse' ? readSse : readPoll;
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.record({ publish: fc.nat(4), keep: fc.nat(5) }), {
            minLength: 1,
            maxLength: 12,
          }),
          async (steps) => {
            const outlast = createOutlast({ onError: () => {} });
            const sent: string[] = [];
            const received: string[] = [];
            let last: string | null = null;
            await outlast.publish('p', { data: 'start' });
            sent.push('start');
            for (const step of steps) {
              for (let i = 0; i < step.publish; i++) {
                const data = `e${sent.length}`;
                await outlast.publish('p', { data });
                sent.push(data);
              }
              const available = sent.length - received.length;
              const { got } = await read(outlast, last, Math.min(step.keep, available));
              for (const e of got) {
                received.push(e.data);
                last = e.id;
              }
            }
            await outlast.end('p');
            for (let round = 0; round < 100; round++) {
              const { got, ended } = await read(outlast, last, Number.POSITIVE_INFINITY);
              for (const e of got) {
                received.push(e.data);
                last = e.id;
              }
              if (ended) break;
            }
            await closeIdle({ outlast, close: () => outlast.close() });
            expect(received).toEqual(sent);
          },
        ),
        { numRuns: 60 },
      );
    },
  );
});
