/**
 * HTTP plumbing shared by the routes: the error envelope (reference §4a), JSON replies and
 * body reading. Nothing here ever echoes request headers, so the API key cannot leak.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** An error that becomes the API's envelope `{success:false,status,error:{message,type,details?}}`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
    readonly details?: Record<string, unknown>,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  /** The envelope; `details` is omitted when absent, as in the real captures. */
  body(): Record<string, unknown> {
    const error: Record<string, unknown> = { message: this.message, type: this.type };
    if (this.details) error['details'] = this.details;
    return { success: false, status: this.status, error };
  }
}

/** 422 with the documented `validation_errors` list. */
export function validationError(location: (string | number)[], message: string, type = 'value_error'): ApiError {
  return new ApiError(422, 'ValidationError', message, { validation_errors: [{ type, location, message }] });
}

export function badRequest(message: string, details?: Record<string, unknown>): ApiError {
  return new ApiError(400, 'BadRequestError', message, details);
}

export function notFound(message = 'Not found', details?: Record<string, unknown>): ApiError {
  return new ApiError(404, 'NotFoundError', message, details);
}

/** Send a complete JSON reply with an exact Content-Length. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'application/json',
    'Content-Length': String(Buffer.byteLength(text)),
  });
  res.end(text);
}

export function sendError(res: ServerResponse, err: ApiError, headers: Record<string, string> = {}): void {
  sendJson(res, err.status, err.body(), { ...headers, ...err.headers });
}

/** Resolve true on 'drain', false if the connection closes first. */
export function drained(res: ServerResponse): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(ok);
    };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}

/** Largest request body accepted; list bodies are a few KB. */
const MAX_BODY_BYTES = 1_000_000;

/** Read and parse a JSON body; empty or absent means `{}` (the list body is optional). */
export async function readJsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new ApiError(413, 'PayloadTooLargeError', 'Request body too large');
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw validationError(['body'], 'JSON decode error', 'json_invalid');
  }
  if (parsed === null) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw validationError(['body'], 'Input should be a valid dictionary or object', 'model_attributes_type');
  }
  return parsed as Record<string, unknown>;
}
