/**
 * The streaming bodies of the probe endpoints, as Web `ReadableStream`s driven by timers.
 * Each write is scheduled from the stream's start (not from the previous write), so a train
 * does not drift under load; cancelling the stream (the client left) clears every timer.
 */

const encoder = new TextEncoder();

/** One scheduled body: `at` ms after start, write `chunk()` (null: end the body). */
export type Step = { at: number; chunk: () => string | null };

/** The SSE response headers of the probe streams; `antiBuffering` adds the opt-outs. */
export function sseHeaders(antiBuffering: boolean): Record<string, string> {
  return {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': antiBuffering ? 'no-cache, no-transform' : 'no-cache',
    ...(antiBuffering ? { 'x-accel-buffering': 'no' } : {}),
  };
}

/**
 * A body that writes `first` at once, then follows `next(i)` (the i-th step, or null when
 * done), and calls `done` once when it ends or is cancelled.
 */
export function scheduledBody(
  first: string,
  next: (i: number) => Step | null,
  done: () => void,
): ReadableStream<Uint8Array> {
  let timer: ReturnType<typeof setTimeout> | null = null;
  let finished = false;
  const finish = (): void => {
    if (finished) return;
    finished = true;
    if (timer !== null) clearTimeout(timer);
    timer = null;
    done();
  };
  return new ReadableStream<Uint8Array>({
    start(controller) {
      const started = performance.now();
      controller.enqueue(encoder.encode(first));
      let i = 0;
      const schedule = (): void => {
        const step = next(i++);
        if (step === null) {
          finish();
          controller.close();
          return;
        }
        timer = setTimeout(
          () => {
            timer = null;
            if (finished) return;
            const text = step.chunk();
            if (text === null) {
              finish();
              controller.close();
              return;
            }
            controller.enqueue(encoder.encode(text));
            schedule();
          },
          Math.max(0, started + step.at - performance.now()),
        );
      };
      schedule();
    },
    cancel() {
      finish();
    },
  });
}

/** A train event: `id: {seq}` and `data: {"seq","t","pad"}` padded to about `size` bytes. */
export function trainEvent(seq: number, t: number, size: number): string {
  const head = `id: ${seq}\ndata: {"seq":${seq},"t":${t},"pad":"`;
  const tail = '"}\n\n';
  const pad = Math.max(0, size - head.length - tail.length);
  return `${head}${'x'.repeat(pad)}${tail}`;
}
