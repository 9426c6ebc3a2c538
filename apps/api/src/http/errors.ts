import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

import type { NextFunction, Request, Response } from 'express';

import { AppError } from '@imagegen/contracts';
import type { Logger } from '@imagegen/observability';

import { invalidRequest, payloadTooLarge, unsupportedMediaType } from '../services/errors.js';
import { randomHex } from '../services/random.js';

/** Response headers every answer carries, including those written to a raw socket. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};

export const newRequestId = () => `req_${randomHex(12)}`;

/** The error envelope: `{ success: false, error: { code, message, param?, …extra }, request_id }`. */
export function errorBody(e: AppError, requestId: string): string {
  return JSON.stringify({
    success: false,
    error: {
      code: e.code,
      message: e.message,
      ...(e.param === undefined ? {} : { param: e.param }),
      ...e.extra,
      // Every problem found in the request (validation), each with its field.
      ...(e.details === undefined ? {} : { details: e.details }),
    },
    request_id: requestId,
  });
}

/**
 * What body-parser's errors mean to a client (it marks them with a stable `type`); anything else that is
 * not an AppError is ours, answered with a generic 500 and logged.
 */
function fromBodyParser(err: unknown, bodyLimitBytes: number): AppError | null {
  const { type, status } = err as { type?: unknown; status?: unknown };
  if (type === 'entity.too.large') return payloadTooLarge(`the body must be at most ${bodyLimitBytes} bytes`);
  if (type === 'entity.parse.failed') return invalidRequest('the body is not valid JSON');
  if (type === 'encoding.unsupported' || type === 'charset.unsupported') {
    return unsupportedMediaType('send the body as UTF-8 JSON');
  }
  if (typeof status === 'number' && status >= 400 && status < 500)
    return invalidRequest('the request could not be read');
  return null;
}

const INTERNAL = new AppError('internal_error', 'internal error; retry later or report the request id', {
  httpStatus: 500,
});

/**
 * What a thrown error means to the client, logged: an AppError with an HTTP status as it is, body-parser's
 * errors as their client errors, anything else a generic 500 (the compatible APIs answer the same error
 * in their own shapes).
 */
export function clientError(
  err: unknown,
  options: { logger: Logger; bodyLimitBytes: number },
  requestId: string,
): AppError & { httpStatus: number } {
  const e = err instanceof AppError ? err : fromBodyParser(err, options.bodyLimitBytes);
  if (e === null || e.httpStatus === undefined) {
    options.logger.error({ err, requestId }, 'unhandled error');
    return INTERNAL as AppError & { httpStatus: number };
  }
  if (e.httpStatus >= 500) {
    options.logger.warn({ err: e.cause ?? e, code: e.code, requestId }, 'request failed');
  }
  return e as AppError & { httpStatus: number };
}

/** The one error middleware: an AppError becomes its status and envelope; anything unknown a 500. */
export function errorHandler(options: { logger: Logger; bodyLimitBytes: number }) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    const requestId = String(res.getHeader('X-Request-Id') ?? newRequestId());
    const e = clientError(err, options, requestId);
    if (res.headersSent) {
      res.end();
      return;
    }
    if (e.retryAfterS !== undefined) res.setHeader('Retry-After', String(e.retryAfterS));
    res.status(e.httpStatus).type('application/json').send(errorBody(e, requestId));
  };
}

/** Node's client-error codes (malformed HTTP that never reaches Express) and how we answer them. */
const CLIENT_ERRORS: Record<string, [number, string, AppError]> = {
  HPE_HEADER_OVERFLOW: [
    431,
    'Request Header Fields Too Large',
    invalidRequest('the request headers are too large'),
  ],
  HPE_CHUNK_EXTENSIONS_OVERFLOW: [
    413,
    'Payload Too Large',
    payloadTooLarge('the chunk extensions are too large'),
  ],
  ERR_HTTP_REQUEST_TIMEOUT: [
    408,
    'Request Timeout',
    new AppError('timeout', 'the request was not received in time', { httpStatus: 408 }),
  ],
};
const BAD_HTTP: [number, string, AppError] = [
  400,
  'Bad Request',
  invalidRequest('the request is not valid HTTP/1.1'),
];

/** A whole HTTP/1.1 error answer in the API's shape, for a socket no request handler owns. */
export function rawAnswer(status: number, reason: string, e: AppError): string {
  const requestId = newRequestId();
  const body = errorBody(e, requestId);
  const headers = {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(body)),
    'X-Request-Id': requestId,
    ...SECURITY_HEADERS,
    Connection: 'close',
  };
  if (e.retryAfterS !== undefined) Object.assign(headers, { 'Retry-After': String(e.retryAfterS) });
  const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`);
  return `HTTP/1.1 ${status} ${reason}\r\n${lines.join('')}\r\n${body}`;
}

/**
 * Malformed HTTP (bad request line, header, framing) never reaches Express: Node would answer a bare 400.
 * Answer in the API's error shape instead, then drop the connection, as Node would.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } | null })._httpMessage;
  // Nothing to answer on a reset or closed connection, nor once a response has begun on this one.
  if (err.code !== 'ECONNRESET' && socket.writable && !inFlight?.headersSent) {
    const [status, reason, e] = CLIENT_ERRORS[err.code ?? ''] ?? BAD_HTTP;
    socket.write(rawAnswer(status, reason, e));
  }
  socket.destroy();
}

/** An Expect other than 100-continue (RFC 9110 §10.1.1): Node would answer a bare 417. */
export function answerUnmetExpectation(_req: IncomingMessage, res: ServerResponse): void {
  const requestId = newRequestId();
  const body = errorBody(invalidRequest('the Expect header cannot be met: remove it', 'Expect'), requestId);
  res
    .writeHead(417, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': String(Buffer.byteLength(body)),
      'X-Request-Id': requestId,
      ...SECURITY_HEADERS,
      Connection: 'close',
    })
    .end(body);
}
