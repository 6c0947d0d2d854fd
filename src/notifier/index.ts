export { MAX_TIMEOUT_MS } from './deadline.ts';
export { InvalidTimeoutError, NotifierClosedError, WaitTimeoutError } from './errors.ts';
export type { NotifierOptions, NotifierStats, WaitOptions, WaitResult } from './notifier.ts';
export { Notifier } from './notifier.ts';
