/**
 * What a failed request ran into underneath. Node's fetch throws `TypeError: fetch failed`
 * and puts the real error in `.cause` (sometimes nested, or an AggregateError of one error
 * per address tried): `connect ECONNREFUSED 127.0.0.1:9`, `getaddrinfo ENOTFOUND
 * api.example.invalid`, a certificate error. This finds it, so messages and logs can name it.
 */

/** TLS failures: retrying will not help, the certificate chain (or a proxy) must be fixed. */
const CERTIFICATE_CODES = new Set([
  'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_UNTRUSTED', 'CERT_REVOKED',
]);

interface ErrorLike {
  name?: string;
  code?: unknown;
  message?: string;
  cause?: unknown;
  errors?: unknown[];
}

/**
 * The deepest cause that carries a code (`ECONNREFUSED`, `ENOTFOUND`, `UND_ERR_SOCKET`, a
 * certificate code), with its message. `code` is bounded, for the log's `error_type`:
 * `timeout` for the request timeout, `ERR_BAD_PORT` for a port fetch refuses to use (such
 * as 1), `network_error` when nothing underneath has a code.
 * @example networkCause(await fetch('http://127.0.0.1:9').catch((e) => e))
 *   // { code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 127.0.0.1:9' }
 */
export function networkCause(error: unknown): { code: string; message: string } {
  if ((error as ErrorLike)?.name === 'TimeoutError') return { code: 'timeout', message: 'no answer within requestTimeoutMs' };
  let coded: ErrorLike | undefined;
  let deepest: ErrorLike | undefined;
  const seen = new Set<unknown>();
  for (let at = error as ErrorLike | undefined; at && typeof at === 'object' && !seen.has(at); at = (at.cause ?? at.errors?.[0]) as ErrorLike | undefined) {
    seen.add(at);
    if (typeof at.code === 'string' && at.code) coded = at;
    deepest = at;
  }
  const message = (coded?.message || deepest?.message || String(error)).slice(0, 200);
  if (coded) return { code: coded.code as string, message };
  if (/^bad port$/i.test(deepest?.message ?? '')) return { code: 'ERR_BAD_PORT', message: 'bad port: fetch refuses to connect to this port' };
  return { code: 'network_error', message };
}

/** What to check for a network failure with this cause code. */
export function networkHint(code: string): string {
  const where = 'check --base-url / MIXPEEK_BASE_URL';
  if (code === 'ECONNREFUSED') return `nothing accepted the connection; ${where} (host and port) and any HTTP proxy`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `the host name does not resolve; ${where} and DNS`;
  if (CERTIFICATE_CODES.has(code)) {
    return `the server's TLS certificate was refused; ${where}, and check the certificate chain (NODE_EXTRA_CA_CERTS for a private CA, or a TLS-intercepting proxy)`;
  }
  if (code === 'ERR_BAD_PORT') return `the port is one fetch never connects to; ${where}`;
  if (code === 'timeout') return `no answer in time; ${where}, the network and any HTTP proxy, or raise the request timeout`;
  return `${where}, DNS, any HTTP proxy and certificates`;
}
