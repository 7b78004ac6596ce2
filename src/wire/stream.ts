import type { OutlastError } from '../errors.js';
import { createParser, type ParserOptions } from './parser.js';
import type { SseEvent } from './types.js';

/** Options of {@link SseParserStream}: the parser's limits plus side channels. */
export interface SseParserStreamOptions extends ParserOptions {
  /** Called with each comment line (heartbeats). Default: comments are dropped. */
  onComment?: (comment: string) => void;
  /** Called with each valid `retry:` value in milliseconds. */
  onRetry?: (ms: number) => void;
  /**
   * What a limit error does: `'terminate'` errors the stream; a function is called and the
   * stream goes on without the dropped event.
   * @default 'terminate'
   */
  onError?: 'terminate' | ((error: OutlastError) => void);
}

/**
 * A Web `TransformStream` from bytes to events:
 * `response.body.pipeThrough(new SseParserStream())`.
 */
export class SseParserStream extends TransformStream<Uint8Array, SseEvent> {
  constructor(options: SseParserStreamOptions = {}) {
    let parser: ReturnType<typeof createParser> | undefined;
    super({
      start(controller) {
        const { onError = 'terminate' } = options;
        parser = createParser(
          {
            onEvent: (event) => controller.enqueue(event),
            onComment: options.onComment,
            onRetry: options.onRetry,
            onError: (error) => {
              if (onError === 'terminate') controller.error(error);
              else onError(error);
            },
          },
          options,
        );
      },
      transform(chunk) {
        parser?.feed(chunk);
      },
      // [spec] "Once the end of the file is reached, any pending data must be discarded."
    });
  }
}
