/**
 * The key-pair JWT that Snowpipe REST takes instead of a session (reference section 5). It is
 * signed RS256 with the user's private key, with these claims:
 *
 *   iss = ACCOUNT.USER.SHA256:<fingerprint>   sub = ACCOUNT.USER   iat   exp = iat + 59 min
 *
 * ACCOUNT is the account identifier upper-cased and cut at its first `.` (a locator with a
 * region, `xy12345.us-east-2.aws`, signs as `XY12345`), USER is the login name upper-cased, and
 * the fingerprint is the base64 SHA-256 of the public key's DER SubjectPublicKeyInfo, which
 * `DESC USER` shows as RSA_PUBLIC_KEY_FP. Snowflake honours a JWT for at most an hour; like
 * both Snowflake SDKs, a token is reused until it is 54 minutes old.
 *
 * https://docs.snowflake.com/en/developer-guide/sql-api/authenticating#using-key-pair-authentication
 */
import { createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import { ConfigError } from '../errors.js';

/** Lifetime written into `exp`, in seconds (Snowflake caps it at one hour). */
export const JWT_LIFETIME_SECONDS = 59 * 60;
/** Age after which a new token is signed, in seconds. */
export const JWT_RENEW_AFTER_SECONDS = 54 * 60;
/** Snowflake's minimum RSA key size for key-pair authentication. */
const MIN_MODULUS_BITS = 2048;

/** A loaded private key and the fingerprint of its public half (`SHA256:<base64>`; not a secret). */
export interface SnowflakeKey {
  privateKey: KeyObject;
  fingerprint: string;
}

/** Where the key came from, for messages (never the key or the passphrase themselves). */
export interface KeySource {
  /** e.g. `sink snowpipe (snowpipe)`. */
  where: string;
  path: string;
  pem: string;
  passphrase?: string;
}

/**
 * Loads the PEM private key (PKCS#8, encrypted or not; PKCS#1 also works). Throws ConfigError
 * (exit 2) naming SNOWFLAKE_PRIVATE_KEY_PATH or SNOWFLAKE_PRIVATE_KEY_PASSPHRASE and the fix;
 * the message never holds the key or the passphrase (of Node's error only its code is kept).
 */
export function loadSnowflakeKey(source: KeySource): SnowflakeKey {
  const { where, path } = source;
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: source.pem, format: 'pem', ...(source.passphrase === undefined ? {} : { passphrase: source.passphrase }) });
  } catch (error) {
    throw new ConfigError(`${where}: ${keyProblem(source, (error as { code?: string }).code ?? '')}`);
  }
  if (privateKey.asymmetricKeyType !== 'rsa') {
    throw new ConfigError(`${where}: SNOWFLAKE_PRIVATE_KEY_PATH ${path} holds a key of type ${privateKey.asymmetricKeyType ?? 'unknown'}; Snowflake key-pair authentication takes an RSA key: openssl genrsa 2048 | openssl pkcs8 -topk8 -nocrypt -out rsa_key.p8`);
  }
  const bits = privateKey.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_MODULUS_BITS) {
    throw new ConfigError(`${where}: SNOWFLAKE_PRIVATE_KEY_PATH ${path} is a ${bits}-bit RSA key; Snowflake needs at least ${MIN_MODULUS_BITS} bits: make a new one with openssl genrsa 2048 | openssl pkcs8 -topk8 -out rsa_key.p8`);
  }
  return { privateKey, fingerprint: publicKeyFingerprint(privateKey) };
}

function keyProblem(source: KeySource, code: string): string {
  const { path } = source;
  // Node's error codes for these differ between OpenSSL versions; the PEM header says which case it is.
  const encrypted = /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(source.pem);
  if (encrypted && source.passphrase === undefined) {
    return `SNOWFLAKE_PRIVATE_KEY_PATH ${path} is an encrypted key and no passphrase was given; set SNOWFLAKE_PRIVATE_KEY_PASSPHRASE (or SNOWFLAKE_PRIVATE_KEY_PASSPHRASE_FILE, or privateKeyPassphraseFile in the sinks entry)`;
  }
  if (encrypted) {
    return `SNOWFLAKE_PRIVATE_KEY_PASSPHRASE does not decrypt SNOWFLAKE_PRIVATE_KEY_PATH ${path}; give the passphrase the key was encrypted with (openssl pkey -in ${path} -noout asks for it and says whether it is right)`;
  }
  if (!/-----BEGIN (RSA )?PRIVATE KEY-----/.test(source.pem)) {
    return `SNOWFLAKE_PRIVATE_KEY_PATH ${path} is not a PEM private key (no -----BEGIN PRIVATE KEY----- or -----BEGIN ENCRYPTED PRIVATE KEY----- line); give the PKCS#8 file made by openssl pkcs8 -topk8 (rsa_key.p8), not the public key`;
  }
  return `SNOWFLAKE_PRIVATE_KEY_PATH ${path}: the private key cannot be read (${code || 'unreadable key'}); give a PKCS#8 PEM RSA key (openssl pkcs8 -topk8 -nocrypt -in rsa_key.pem -out rsa_key.p8)`;
}

/** `SHA256:<base64>` of the public key's DER SPKI: what `DESC USER` shows as RSA_PUBLIC_KEY_FP. */
export function publicKeyFingerprint(key: KeyObject): string {
  const der = createPublicKey(key).export({ type: 'spki', format: 'der' });
  return `SHA256:${createHash('sha256').update(der).digest('base64')}`;
}

/** `ACCOUNT.USER` as the claims spell it: upper case, the account cut at its first `.` (no region). */
export function qualifiedUser(account: string, user: string): string {
  const accountPart = account.trim().split('.')[0] as string;
  return `${accountPart.toUpperCase()}.${user.trim().toUpperCase()}`;
}

/** Signs one JWT issued at `now`. */
export async function signSnowflakeJwt(key: SnowflakeKey, account: string, user: string, now: Date): Promise<string> {
  const sub = qualifiedUser(account, user);
  const iat = Math.floor(now.getTime() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
    .setIssuer(`${sub}.${key.fingerprint}`)
    .setSubject(sub)
    .setIssuedAt(iat)
    .setExpirationTime(iat + JWT_LIFETIME_SECONDS)
    .sign(key.privateKey);
}

/** A JWT reused until it is 54 minutes old; `renew()` drops it (after a 401) so the next `token()` signs afresh. */
export interface JwtSource {
  token(now: Date): Promise<string>;
  renew(): void;
}

export function jwtSource(key: SnowflakeKey, account: string, user: string): JwtSource {
  let current: { jwt: string; issuedAtMs: number } | null = null;
  return {
    async token(now) {
      const age = current ? now.getTime() - current.issuedAtMs : Infinity;
      if (!current || age >= JWT_RENEW_AFTER_SECONDS * 1000 || age < 0) {
        current = { jwt: await signSnowflakeJwt(key, account, user, now), issuedAtMs: now.getTime() };
      }
      return current.jwt;
    },
    renew() {
      current = null;
    },
  };
}
