export { MAX_TIMEOUT_MS } from './deadline.ts';
export { InvalidTimeoutError, WaitTimeoutError } from './errors.ts';
export { KeyHistory } from './key-history.ts';
export type { NotifierOptions, NotifierStats, WaitOptions, WaitResult } from './notifier.ts';
export { Notifier } from './notifier.ts';
