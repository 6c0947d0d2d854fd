export { MAX_BODY_BYTES, readBody, readJsonBody } from './body.ts';
export type { ErrorBody, HttpErrorCode } from './errors.ts';
export {
  badJson,
  HttpError,
  invalidParam,
  methodNotAllowed,
  notFound,
  notJson,
  RequestAbortedError,
  toHttpError,
  tooLarge,
} from './errors.ts';
export { createLogger, type LoggerOptions } from './logger.ts';
export { createMetricsRegistry, metricsHandler } from './metrics.ts';
export { JSON_CONTENT_TYPE, toJsonText } from './respond.ts';
export type { Handler, HandlerResult, JsonResult, Method, RequestContext, TextResult } from './router.ts';
export { Router } from './router.ts';
export type { HttpLogger, HttpServer, HttpServerOptions, HttpTimeouts } from './server.ts';
export {
  DEFAULT_HOST,
  DEFAULT_HTTP_TIMEOUTS,
  DEFAULT_SHUTDOWN_GRACE_MS,
  startHttpServer,
} from './server.ts';
export type { Source } from './validate.ts';
export {
  LIMIT_BOUNDS,
  MAX_ID_BYTES,
  optionalInteger,
  queryInteger,
  queryString,
  requireBoolean,
  requireObject,
  requireQueryString,
  requireString,
  TIMEOUT_BOUNDS,
  validateEventId,
  validateEventType,
  validateRoomId,
  validateTxnId,
  validateUserId,
} from './validate.ts';
