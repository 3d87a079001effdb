// HTTP errors the API returns as JSON: { error: { status, code, message } }. Never a stack trace.
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export const badRequest = (message: string, code = 'bad_request') => new HttpError(400, code, message);
export const notFound = (message: string, code = 'not_found') => new HttpError(404, code, message);
export const conflict = (message: string, code = 'conflict') => new HttpError(409, code, message);
export const tooLarge = (message: string) => new HttpError(413, 'payload_too_large', message);
export const unsupportedType = (message: string) => new HttpError(415, 'unsupported_media_type', message);
export const undecodable = (message: string) => new HttpError(422, 'undecodable_image', message);
export const unprocessable = (message: string, code = 'unprocessable') => new HttpError(422, code, message);

export interface ErrorBody {
  error: { status: number; code: string; message: string };
}

export function errorBody(status: number, code: string, message: string): ErrorBody {
  return { error: { status, code, message } };
}

// What the multipart parser (@fastify/busboy) throws for a body that is not well-formed multipart: plain Errors,
// no code. Recognised by message so they answer 400 instead of 500.
const MALFORMED_MULTIPART_RE =
  /unexpected end of multipart data|boundary not found|boundary required|needle cannot|malformed part header/i;

/** A 400 for a malformed or truncated multipart body, or undefined when `err` is something else. */
export function malformedMultipart(err: Error & { code?: string }): HttpError | undefined {
  if (err instanceof HttpError) return undefined;
  if (
    err.code === 'FST_PROTO_VIOLATION' ||
    err.code === 'FST_INVALID_JSON_FIELD_ERROR' ||
    err.code === 'FST_MP_PREMATURE_CLOSE' ||
    (!err.code && MALFORMED_MULTIPART_RE.test(err.message))
  ) {
    return badRequest(
      `malformed multipart/form-data body (${err.message.split('\n')[0].slice(0, 120)}); send files as multipart file fields, e.g. curl -F file=@photo.jpg`,
      'malformed_multipart',
    );
  }
  return undefined;
}
