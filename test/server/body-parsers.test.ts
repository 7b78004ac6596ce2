import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { createOutlast, type Outlast } from '../../src/server/index.js';
import { expectIdle } from '../helpers/server.js';

/*
 * A body parser in front (express.raw(), express.json(), express.text()) has read the request
 * stream already: the job route takes `req.body` instead of waiting on a consumed stream.
 */

let server: Server | undefined;
let outlast: Outlast | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await outlast?.close();
  server = undefined;
  outlast = undefined;
});

type Parser = 'raw' | 'json' | 'text' | 'json, other type';

async function host(parser: Parser) {
  outlast = createOutlast({ jobs: { echo: (ctx) => ctx.input }, onError: () => {} });
  const app = express();
  if (parser === 'raw') app.use(express.raw({ type: '*/*' }));
  if (parser === 'json') app.use(express.json());
  if (parser === 'text') app.use(express.text({ type: '*/*' }));
  // Parses another type only: the JSON body is left unread for outlast.
  if (parser === 'json, other type') app.use(express.json({ type: 'application/vnd.other' }));
  app.use(outlast.handleNode);
  server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server!.once('listening', () => resolve()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/outlast`;
}

describe.each<Parser>(['raw', 'json', 'text', 'json, other type'])(
  'behind express %s',
  (parser) => {
    it('starts the job with the body the parser read', async () => {
      const base = await host(parser);
      const res = await fetch(`${base}/jobs/echo`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ page: 3, text: 'é' }),
        signal: AbortSignal.timeout(3_000),
      });
      expect(res.status).toBe(202);
      const { jobId } = (await res.json()) as { jobId: string };
      for (let i = 0; i < 100; i++) {
        const record = await outlast!.getJob(jobId);
        if (record?.state === 'succeeded') {
          expect(record.result).toEqual({ page: 3, text: 'é' });
          await expectIdle(outlast!);
          return;
        }
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error('the job did not succeed');
    });
  },
);
