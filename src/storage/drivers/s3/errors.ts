import { StorageError } from '../../../errors.js';
import { makeRedactor } from '../../../util/redact.js';

/** The fields of an AWS SDK v3 error that the mapping reads. */
export interface SdkErrorShape {
  name?: string;
  code?: string;
  message?: string;
  /** `attempts`: how many times the SDK sent the request (set by its retry middleware). */
  $metadata?: { httpStatusCode?: number; attempts?: number };
}

export function sdkError(error: unknown): { name: string; status: number | undefined; message: string } {
  const e = (error ?? {}) as SdkErrorShape;
  return { name: e.name ?? 'Error', status: e.$metadata?.httpStatusCode, message: e.message ?? String(error) };
}

/** The IAM permission each call needs, named in AccessDenied messages. */
const PERMISSION: Record<string, string> = {
  PutObject: 's3:PutObject',
  CreateMultipartUpload: 's3:PutObject',
  UploadPart: 's3:PutObject',
  CompleteMultipartUpload: 's3:PutObject',
  GetObject: 's3:GetObject',
  HeadObject: 's3:GetObject (and s3:ListBucket, without which a missing key answers 403)',
  ListObjectsV2: 's3:ListBucket',
  DeleteObject: 's3:DeleteObject',
  AbortMultipartUpload: 's3:AbortMultipartUpload',
};
const WRITES = new Set(['PutObject', 'CreateMultipartUpload', 'UploadPart', 'CompleteMultipartUpload']);
const CHAIN = 'the exporter uses the AWS default chain: env, profile, web identity (IRSA), container/instance role';
const CREDENTIALS: Record<string, string> = {
  ExpiredToken: 'the session credentials have expired; refresh them',
  ExpiredTokenException: 'the session credentials have expired; refresh them',
  TokenRefreshRequired: 'the session credentials have expired; refresh them',
  InvalidToken: 'the session token is not valid; refresh the credentials',
  InvalidAccessKeyId: 'the credentials name an access key id this endpoint does not know; fix or refresh them',
  SignatureDoesNotMatch: 'the secret key does not match the access key id (or the clock is off); fix or refresh the credentials',
  CredentialsProviderError: 'no credentials were found; provide them and refresh them when they expire',
};
const TRANSIENT_NAMES = new Set(['SlowDown', 'RequestTimeout', 'InternalError', 'ServiceUnavailable', 'Throttling', 'ThrottlingException', 'TooManyRequestsException']);
const TRANSIENT_STATUSES = new Set([429, 500, 502, 503, 504]);
const NETWORK_CODES = new Set(['ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ECONNABORTED', 'EAI_AGAIN']);
/** No known secret reaches this module (the SDK holds the credentials); credential shapes are still scrubbed. */
const redact = makeRedactor([]);

/**
 * Maps an SDK failure to a `StorageError` (exit 4) that names the call, the object and the
 * fix (STYLE.md item 7), with `transient` set for throttling and resets; never includes
 * credentials. A `StorageError` passes through unchanged.
 * @example toStorageError('PutObject', 's3://lake/a.parquet', err).message
 *   // '[s3] PutObject s3://lake/a.parquet: AccessDenied; the role needs s3:PutObject on that prefix'
 */
export function toStorageError(op: string, where: string, error: unknown): StorageError {
  if (error instanceof StorageError) return error;
  const { name, status, message } = sdkError(error);
  const code = (error as SdkErrorShape)?.code;
  const bucket = where.replace(/^s3:\/\/([^/]*).*$/, '$1');
  const make = (text: string, errorCode: string, transient = false) =>
    new StorageError(`[s3] ${op} ${where}: ${text}`, { cause: error, transient, code: errorCode, context: { op, url: where, status, s3Code: name } });

  if (name === 'NoSuchKey' || (status === 404 && (name === 'NotFound' || name === 'Unknown'))) return make(`${name}; the object does not exist`, 'ERR_NOT_FOUND');
  if (name === 'NoSuchBucket') return make(`NoSuchBucket; bucket ${bucket} does not exist; create the bucket or fix --dest`, 'ERR_S3_NO_SUCH_BUCKET');
  const credentials = CREDENTIALS[name] ?? (/could not load credentials/i.test(message) ? CREDENTIALS.CredentialsProviderError : undefined);
  if (credentials) return make(`${name}; ${credentials}; ${CHAIN}`, 'ERR_S3_CREDENTIALS');
  if (name === 'AccessDenied' || status === 403) return make(`${name}; the role needs ${permissionFor(op, name, message)}`, 'ERR_S3_ACCESS_DENIED');
  if (name === 'PermanentRedirect' || name === 'AuthorizationHeaderMalformed') return make(`${name}; bucket ${bucket} is in another region; set the region`, 'ERR_S3_REGION');
  if (name === 'EntityTooSmall') return make(`${name}; parts must be at least 5 MiB; raise the part size`, 'ERR_S3_PART_SIZE');
  if ((code && NETWORK_CODES.has(code)) || name === 'TimeoutError' || /socket hang up|ECONNRESET|ETIMEDOUT/i.test(message)) {
    return make(`${code ?? name}; the connection was reset or timed out; retried with backoff`, 'ERR_S3_NETWORK', true);
  }
  if (TRANSIENT_NAMES.has(name) || (status !== undefined && TRANSIENT_STATUSES.has(status))) {
    return make(`${name}${status ? ` (HTTP ${status})` : ''}; S3 is throttling or briefly unavailable; retried with backoff`, 'ERR_S3_TRANSIENT', true);
  }
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND') return make(`${code}; cannot reach the S3 endpoint; check the endpoint and the network`, 'ERR_S3_UNREACHABLE');
  // Unknown: keep the service's own words, minus anything shaped like a credential.
  return make(`${name}${status ? ` (HTTP ${status})` : ''}: ${redact(message).slice(0, 200)}`, 'ERR_STORAGE');
}

/** What an AccessDenied on `op` needs: the KMS permissions when KMS refused, else the IAM one. */
function permissionFor(op: string, name: string, message: string): string {
  const kms = /kms/i.test(message) || name.startsWith('KMS');
  if (kms) return WRITES.has(op) ? "kms:GenerateDataKey and kms:Decrypt on the bucket's KMS key" : "kms:Decrypt on the bucket's KMS key";
  return `${PERMISSION[op] ?? 's3:*'} on ${op === 'ListObjectsV2' ? 'that bucket' : 'that prefix'}`;
}
