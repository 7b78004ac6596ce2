import { describe, expect, it } from 'vitest';
import { SseParserStream } from '../../src/wire/index.js';
import type { SseEvent } from '../../src/wire/types.js';
import { utf8 } from './helpers.js';

async function collect(chunks: string[], stream: SseParserStream): Promise<SseEvent[]> {
  const source = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(utf8(chunk));
      controller.close();
    },
  });
  const out: SseEvent[] = [];
  for await (const event of source.pipeThrough(stream)) out.push(event);
  return out;
}

describe('SseParserStream', () => {
  it('turns bytes into events, with comments and retry on the side', async () => {
    const comments: string[] = [];
    const retries: number[] = [];
    const out = await collect(
      ['retry: 3000\n: hb\nid: 1\nevent: pro', 'gress\ndata: {"p":1}\n\ndata: tail'],
      new SseParserStream({ onComment: (c) => comments.push(c), onRetry: (r) => retries.push(r) }),
    );
    expect(out).toEqual([{ type: 'progress', data: '{"p":1}', lastEventId: '1', id: '1' }]);
    expect(comments).toEqual(['hb']);
    expect(retries).toEqual([3000]);
  });

  it("errors the stream on a limit by default ('terminate')", async () => {
    await expect(
      collect(['data: 0123456789\n\n'], new SseParserStream({ maxLineBytes: 4 })),
    ).rejects.toMatchObject({ code: 'max-line-bytes-exceeded' });
  });

  it('goes on past a limit when onError is a function', async () => {
    const codes: string[] = [];
    const out = await collect(
      ['data: 0123456789\n\ndata: ok\n\n'],
      new SseParserStream({ maxLineBytes: 8, onError: (e) => codes.push(e.code) }),
    );
    expect(out.map((e) => e.data)).toEqual(['ok']);
    expect(codes).toEqual(['max-line-bytes-exceeded']);
  });
});
