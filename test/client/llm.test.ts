import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/index.js';
import { type FastApiApp, startFastApi } from '../gateway/fastapi.js';
import { collect, testOptions } from './helpers.js';

/*
 * POST streams against a real FastAPI app on uvicorn (test/client/fastapi/llm_app.py): the
 * StreamingResponse way LLM-style APIs are commonly served.
 */

let api: FastApiApp;
beforeAll(async () => {
  api = await startFastApi(1, {
    module: 'llm_app:app',
    dir: fileURLToPath(new URL('./fastapi/', import.meta.url)),
  });
}, 30_000);
afterAll(async () => {
  await api?.close();
});

const posts = async () =>
  ((await (await fetch(`${api.url}/count`)).json()) as { posts: number }).posts;

describe('POST streams from FastAPI', () => {
  it('streams /v1/chat/completions to its [DONE] and the end of the response', async () => {
    const conn = connect(`${api.url}/v1/chat/completions`, {
      ...testOptions(),
      method: 'POST',
      body: { model: 'm', stream: true, messages: [{ role: 'user', content: 'outlast' }] },
    });
    const got = await collect(conn);
    const text = got
      .filter((e) => e.data !== '[DONE]')
      .map(
        (e) =>
          (JSON.parse(e.data) as { choices: [{ delta: { content: string } }] }).choices[0].delta
            .content,
      )
      .join('');
    expect(text).toBe('Hello from outlast');
    expect(got.at(-1)?.data).toBe('[DONE]');
  });

  it('a POST cut mid-answer is stream-interrupted and sent once', async () => {
    const before = await posts();
    const conn = connect(`${api.url}/v1/cut`, { ...testOptions(), method: 'POST', body: {} });
    const got: string[] = [];
    conn.on('event', (e) => got.push(e.data));
    await expect(conn.done).rejects.toMatchObject({ code: 'stream-interrupted' });
    expect(got).toHaveLength(2);
    expect((await posts()) - before).toBe(1);
  });

  it('with resendPost, the cut POST is re-sent with Last-Event-ID and resumes', async () => {
    const before = await posts();
    const conn = connect(`${api.url}/v1/resumable`, {
      ...testOptions(),
      method: 'POST',
      body: {},
      resendPost: true,
    });
    const got = await collect(conn);
    expect(got.map((e) => e.data)).toEqual(['1', '2', '3', '4']);
    expect((await posts()) - before).toBe(2);
  });
});
