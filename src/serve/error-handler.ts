// Every failure answers JSON {error: {status, code, message}}, never a stack trace: the API's own HttpErrors as
// they are, the toolkit's TlErrors as 500 tl_error with their hint, Fastify's and the multipart parser's errors
// translated to the API's codes; unexpected failures are logged with their stack and answered 500 internal_error.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { TlError } from '../util/errors.js';
import { formatBytes } from '../util/format.js';
import { HttpError, errorBody, malformedMultipart } from './errors.js';

export function jsonErrorHandler({
  maxImageBytes,
  maxFiles,
  log,
}: {
  maxImageBytes: number;
  maxFiles: number;
  log: (line: string) => void;
}) {
  return (err: Error & { statusCode?: number; code?: string }, req: FastifyRequest, reply: FastifyReply) => {
    let status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    let code = 'internal_error';
    let message = 'internal server error';
    const malformed = malformedMultipart(err);
    if (malformed) [status, code, message] = [malformed.statusCode, malformed.code, malformed.message];
    else if (err instanceof HttpError) {
      code = err.code;
      message = err.message;
    } else if (err instanceof TlError) {
      status = 500;
      code = 'tl_error';
      message = err.message + ((err as TlError).hint ? ` (${(err as TlError).hint})` : '');
    } else {
      switch (err.code) {
        case 'FST_ERR_CTP_BODY_TOO_LARGE':
          [status, code, message] = [
            413,
            'payload_too_large',
            `the request body is larger than the ${formatBytes(maxImageBytes)} limit`,
          ];
          break;
        case 'FST_REQ_FILE_TOO_LARGE':
          [status, code, message] = [
            413,
            'payload_too_large',
            `a file is larger than the ${formatBytes(maxImageBytes)} limit`,
          ];
          break;
        case 'FST_FILES_LIMIT':
        case 'FST_PARTS_LIMIT':
        case 'FST_FIELDS_LIMIT':
          [status, code, message] = [
            413,
            'too_many_parts',
            `too many files or fields in one request (at most ${maxFiles} files)`,
          ];
          break;
        case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
          [status, code, message] = [
            415,
            'unsupported_media_type',
            `unsupported Content-Type "${String(req.headers['content-type'] ?? '').slice(0, 60)}"`,
          ];
          break;
        default:
          if (status < 500) {
            code = String(err.code ?? 'bad_request').toLowerCase();
            message = (err.message || 'bad request').split('\n')[0].slice(0, 300);
          }
      }
    }
    if (status >= 500 && !(err instanceof HttpError) && !malformed)
      log(`error on ${req.method} ${req.url}: ${err.stack ?? err.message}`);
    if (reply.sent || reply.raw.headersSent) return;
    reply
      .code(status)
      .type('application/json; charset=utf-8')
      .send(errorBody(status, code, message));
  };
}
