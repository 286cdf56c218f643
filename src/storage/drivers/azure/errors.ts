import { AlreadyExistsError, PreconditionFailedError, StorageError } from '../../../errors.js';

/** What a conditional write meant, so 409/412/404 map to the right error class. */
export type Intent = 'create' | 'replace' | 'delete';

/**
 * What the service said, read from an SDK RestError (or an identity or network error).
 * `code` is the storage error code (`x-ms-error-code`, also sent on HEAD where there is no
 * body), or the errno of a failed connection, or '' when there is none.
 */
function readServiceError(error: unknown): { status?: number; code: string; message: string; name: string } {
  const e = error as { statusCode?: number; code?: string; details?: { errorCode?: string }; name?: string };
  const message = error instanceof Error ? error.message : String(error);
  let code = e?.details?.errorCode ?? e?.code ?? '';
  if (code === 'REQUEST_SEND_ERROR') code = /\b(E[A-Z_]{3,})\b/.exec(message)?.[1] ?? code;
  return { status: e?.statusCode, code, message, name: e?.name ?? 'Error' };
}

const TOKEN_ERRORS = new Set(['CredentialUnavailableError', 'AuthenticationError', 'AggregateAuthenticationError', 'AuthenticationRequiredError']);
const NETWORK_CODES = new Set(['REQUEST_SEND_ERROR', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ECONNREFUSED', 'EAI_AGAIN', 'ESOCKETTIMEDOUT', 'UND_ERR_SOCKET']);
const ROLE = 'the identity needs the Storage Blob Data Contributor role on the container';

function hintFor(status: number | undefined, code: string, message: string): string | undefined {
  if (code === 'ContainerNotFound') return 'create the container or fix --dest';
  if (code === 'AuthenticationFailed' || code === 'InvalidAuthenticationInfo' || code === 'TokenUnavailable' || /not valid in the specified time frame|expired/i.test(message)) {
    return 'the credentials were rejected (wrong account key, expired or malformed SAS, or an expired token); refresh them';
  }
  if (code === 'KeyBasedAuthenticationNotPermitted') return 'shared key access is disabled on the account; use a SAS or an Entra ID identity';
  if (code === 'AuthorizationSourceIPMismatch') return "the account's network rules block this address";
  if (code === 'AuthorizationFailure') {
    return `access refused: the credentials may be wrong or expired (refresh them), the account's network rules may block this address, or ${ROLE}`;
  }
  if (status === 403) return `${ROLE} (or the SAS needs read, add, create, write, delete and list permissions)`;
  if (code === 'ENOTFOUND') return 'the account host does not resolve; check the account name in --dest';
  return undefined;
}

/**
 * Maps an SDK failure to a `StorageError` naming the operation, the blob URL and the fix;
 * with an `intent`, 409/412/404 become `AlreadyExistsError` or `PreconditionFailedError`.
 * The cause is rebuilt from the redacted message, so no secret survives in it either.
 */
export function toStorageError(op: string, target: string, error: unknown, redact: (text: string) => string, intent?: Intent): StorageError {
  if (error instanceof StorageError) return error;
  const info = readServiceError(error);
  const context = { op, url: target, status: info.status, azureCode: info.code };
  const cause = Object.assign(new Error(redact(info.message)), { name: info.name, statusCode: info.status, code: info.code });
  const conditionFailed = info.status === 412 && (info.code === 'ConditionNotMet' || info.code === '');
  if (intent === 'create' && ((info.status === 409 && info.code === 'BlobAlreadyExists') || conditionFailed)) {
    return new AlreadyExistsError(`[azure] ${op} ${target}: already exists; a published file is never overwritten`, { cause, context });
  }
  if ((intent === 'replace' && (conditionFailed || (info.status === 404 && info.code === 'BlobNotFound'))) || (intent === 'delete' && conditionFailed)) {
    return new PreconditionFailedError(`[azure] ${op} ${target}: changed since it was read (compare-and-swap lost)`, { cause, context });
  }
  const code = TOKEN_ERRORS.has(info.name) ? 'TokenUnavailable' : info.code || (info.status ? `HTTP${info.status}` : info.name);
  const hint = hintFor(info.status, code, info.message);
  const detail = hint ?? redact(info.message.split('\n')[0] ?? '');
  const transient =
    (info.status !== undefined && (info.status >= 500 || info.status === 408 || info.status === 429)) ||
    code === 'ServerBusy' || code === 'OperationTimedOut' || NETWORK_CODES.has(code);
  return new StorageError(`[azure] ${op} ${target}: ${code}${detail ? `; ${detail}` : ''}`, { cause, context, transient, code: `ERR_AZURE_${code}` });
}

export function isNotFound(error: unknown): boolean {
  const context = (error as StorageError)?.context;
  return error instanceof StorageError && context?.status === 404 && (context.azureCode === 'BlobNotFound' || context.azureCode === '');
}

export function nullIfNotFound(error: unknown): null {
  if (isNotFound(error)) return null;
  throw error;
}
