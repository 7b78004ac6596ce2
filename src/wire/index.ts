/**
 * `outlast/wire`: the Server-Sent Events wire format. An encoder and an incremental, bounded
 * parser, both pure (no I/O), written from the WHATWG HTML standard.
 * @packageDocumentation
 */
export { encodeComment, encodeEvent, formatComment, formatEvent } from './encoder.js';
export {
  createParser,
  type ParserCallbacks,
  type ParserOptions,
  parserDefaults,
  type SseParser,
} from './parser.js';
export { SseParserStream, type SseParserStreamOptions } from './stream.js';
export type { SseEvent, SseEventInit } from './types.js';
