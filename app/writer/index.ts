/**
 * # app/writer — the reference application's writer process
 *
 * `startWriterApp` serves the writer HTTP API of docs/http-api.md over one StreamWriter: accounts (registration,
 * access tokens, logout), chat events, receipts, typing (with writer-side timeouts), account data, to-device
 * messages and their deletion once delivered.
 */
export {
  DEFAULT_WRITER_PORT,
  startWriterApp,
  WRITER_POOL_SIZE,
  type WriterApp,
  type WriterAppOptions,
} from './app.ts';
export { newEventId } from './event-id.ts';
export { DEFAULT_TYPING_TIMEOUT_MS, TYPING_TIMEOUT_BOUNDS } from './input.ts';
export { MAX_CONTENT_DEPTH } from './json-content.ts';
export { type TypingChange, type TypingOptions, TypingTimers } from './typing.ts';
