import { afterEach, describe, expect, it } from 'vitest';
import { isOutlastError } from '../../src/errors.js';
import { createOutlast, type Outlast } from '../../src/server/index.js';
import { formatEvent } from '../../src/wire/index.js';
import { closeIdle } from '../helpers/server.js';

/*
 * Data JSON cannot encode (a cycle, a BigInt, a function, a symbol) is refused with
 * `invalid-field`, as docs/errors.md says, never a bare TypeError; nothing reaches the stream.
 */

const cycle: Record<string, unknown> = { name: 'loop' };
cycle.self = cycle;
const bad: Array<[string, unknown]> = [
  ['a cycle', cycle],
  ['a BigInt', { n: 10n }],
  ['a function', () => 1],
  ['a symbol', Symbol('s')],
];

let outlast: Outlast | undefined;
afterEach(async () => {
  const o = outlast;
  outlast = undefined;
  await closeIdle(o); // every test is a leak test
});

describe('unencodable event data', () => {
  it.each(bad)(
    'publish refuses %s with invalid-field, and the stream stays as it was',
    async (_, data) => {
      outlast = createOutlast({ onError: () => {} });
      const first = await outlast.publish('s', { event: 'ok', data: { fine: true } });
      const error = await outlast.publish('s', { event: 'x', data }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(isOutlastError(error, 'invalid-field'), String(error)).toBe(true);
      expect((error as Error).message).toMatch(/^event data is not JSON-serialisable \(.+\)/);
      await outlast.publish('s', { event: 'ok', data: 2 });
      const read = await outlast.store.read('s', null);
      expect(read?.events.map((e) => [e.event, e.data])).toEqual([
        ['ok', '{"fine":true}'],
        ['ok', '2'],
      ]);
      expect(read?.events[0]?.id).toBe(first);
    },
  );

  it.each(bad)('formatEvent refuses %s with invalid-field', (_, data) => {
    try {
      formatEvent({ data });
      expect.unreachable();
    } catch (error) {
      expect(isOutlastError(error, 'invalid-field'), String(error)).toBe(true);
    }
  });

  it("a job's progress with a cycle rejects in the job with invalid-field", async () => {
    let seen: unknown = null;
    outlast = createOutlast({
      onError: () => {},
      jobs: {
        loop: async ({ progress }) => {
          seen = await progress(cycle).then(
            () => null,
            (e: unknown) => e,
          );
          return 'done';
        },
      },
    });
    const res = await outlast.fetch(
      new Request('http://x/outlast/jobs/loop', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      }),
    );
    expect(res.status).toBe(202);
    const deadline = Date.now() + 5_000;
    while (seen === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(isOutlastError(seen, 'invalid-field'), String(seen)).toBe(true);
  });
});
