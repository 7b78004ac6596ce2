import { describe, expect, it } from 'vitest';
import type { Identified } from '../../src/probe/engine/identify.js';
import { recommend } from '../../src/probe/engine/recommend.js';
import { knownProducts } from '../../src/probe/knowledge/index.js';
import { human } from '../../src/probe/report/text.js';

/*
 * The probe's advice and the config snippets printed beside it name one heartbeat: the same
 * number, never rounded up past what the idle clock allows.
 */

const found: Identified[] = knownProducts
  .filter((k) => k.config !== undefined)
  .map((k) => ({ name: k.name, evidence: [], known: k }));

describe('the recommendation and its snippets agree', () => {
  it.each([6123, 7999, 30_000, 61_000, 1234, 420])('idle clock %i ms', (idleMs) => {
    const r = recommend(
      {
        sse: { idleMs, totalMs: null, firstByteMs: null },
        websocket: { idleMs: null, totalMs: null },
        notes: [],
      },
      { detected: false, heldBytes: 0, fixedByHeaders: null },
      { websocket: { works: true, status: 101 }, longPoll: { works: true, status: 200 } },
      found,
    );
    expect(r.transport).toBe('sse');
    expect(r.heartbeatMs).toBeLessThanOrEqual(idleMs / 2);
    expect(r.heartbeatMs).toBeGreaterThan(Math.min(15_000, idleMs / 2) - 1000);
    const seconds = r.heartbeatMs / 1000;
    // What the text and HTML reports print.
    expect(human(r.heartbeatMs)).toBe(
      r.heartbeatMs < 1000 ? `${r.heartbeatMs} ms` : `${seconds} s`,
    );
    expect(r.serverConfig.length).toBeGreaterThan(3);
    let checked = 0;
    for (const s of r.serverConfig) {
      for (const m of s.snippet.matchAll(
        /([\d.]+)s heartbeat|every ([\d.]+) s|heartbeatMs: (\d+)/g,
      )) {
        checked++;
        const shown = m[3] === undefined ? Number(m[1] ?? m[2]) : Number(m[3]) / 1000;
        expect(shown, `${s.for}: ${m[0]}`).toBe(
          Math.min(seconds, s.for === 'cloudflare' ? 50 : seconds),
        );
      }
    }
    expect(checked).toBeGreaterThan(3);
  });
});
