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
