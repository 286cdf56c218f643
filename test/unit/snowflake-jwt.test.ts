import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { decodeProtectedHeader, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { JWT_LIFETIME_SECONDS, jwtSource, loadSnowflakeKey, qualifiedUser, signSnowflakeJwt } from '../../src/sinks/snowflake-jwt.js';

const PASSPHRASE = 'correct horse battery staple';
const plain = generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
const encrypted = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: PASSPHRASE },
});
const where = 'sink snowpipe (snowpipe)';
const load = (pem: string, passphrase?: string) => loadSnowflakeKey({ where, path: '/keys/rsa_key.p8', pem, ...(passphrase === undefined ? {} : { passphrase }) });
/** The fingerprint computed from the public key file, as `openssl rsa -pubin -outform DER | openssl dgst -sha256 -binary | base64` does. */
const fingerprintOf = (publicPem: string) => `SHA256:${createHash('sha256').update(createPublicKey(publicPem).export({ type: 'spki', format: 'der' })).digest('base64')}`;
const keyBody = (pem: string) => pem.split('\n').filter((line) => line && !line.startsWith('-----'));

const configError = (fn: () => unknown): ConfigError => {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
};

describe('Snowflake key-pair JWT', () => {
  it('upper-cases the account and the user and cuts a locator at its region', () => {
    expect(qualifiedUser('xy12345.us-east-2.aws', 'loader')).toBe('XY12345.LOADER');
    expect(qualifiedUser('myorg-my_acct', 'Mixpeek_Loader')).toBe('MYORG-MY_ACCT.MIXPEEK_LOADER');
  });

  it('fingerprints the public half of the private key as DESC USER shows it', () => {
    expect(load(plain.privateKey).fingerprint).toBe(fingerprintOf(plain.publicKey));
    expect(load(encrypted.privateKey, PASSPHRASE).fingerprint).toBe(fingerprintOf(encrypted.publicKey));
  });

  it('signs RS256 claims that verify with the public key, for unencrypted and encrypted keys', async () => {
    const now = new Date('2026-12-02T01:00:00.000Z');
    for (const [pair, passphrase] of [[plain, undefined], [encrypted, PASSPHRASE]] as const) {
      const jwt = await signSnowflakeJwt(load(pair.privateKey, passphrase), 'xy12345.us-east-2.aws', 'loader', now);
      const { payload } = await jwtVerify(jwt, createPublicKey(pair.publicKey), { algorithms: ['RS256'], currentDate: now });
      const iat = Math.floor(now.getTime() / 1000);
      expect(payload).toEqual({ iss: `XY12345.LOADER.${fingerprintOf(pair.publicKey)}`, sub: 'XY12345.LOADER', iat, exp: iat + JWT_LIFETIME_SECONDS });
      expect(decodeProtectedHeader(jwt)).toEqual({ alg: 'RS256', typ: 'JWT' });
    }
  });

  it('does not verify with another public key', async () => {
    const jwt = await signSnowflakeJwt(load(plain.privateKey), 'acct', 'user', new Date());
    await expect(jwtVerify(jwt, createPublicKey(encrypted.publicKey))).rejects.toThrow(/signature/);
  });

  it('reuses a token until it is 54 minutes old, and signs a new one after renew()', async () => {
    const source = jwtSource(load(plain.privateKey), 'acct', 'user');
    const t0 = new Date('2026-12-02T01:00:00.000Z');
    const first = await source.token(t0);
    expect(await source.token(new Date(t0.getTime() + 53 * 60_000))).toBe(first);
    const later = await source.token(new Date(t0.getTime() + 54 * 60_000));
    expect(later).not.toBe(first);
    source.renew();
    const renewed = await source.token(new Date(t0.getTime() + 55 * 60_000));
    expect(renewed).not.toBe(later);
  });

  it('refuses a wrong passphrase with a ConfigError naming SNOWFLAKE_PRIVATE_KEY_PASSPHRASE, never printing it or the key', () => {
    const error = configError(() => load(encrypted.privateKey, 'not the passphrase'));
    expect(error.message).toMatch(/SNOWFLAKE_PRIVATE_KEY_PASSPHRASE does not decrypt SNOWFLAKE_PRIVATE_KEY_PATH \/keys\/rsa_key\.p8/);
    expect(error.message).not.toContain('not the passphrase');
    for (const line of keyBody(encrypted.privateKey)) expect(error.message).not.toContain(line);
  });

  it('asks for the passphrase of an encrypted key given without one', () => {
    expect(configError(() => load(encrypted.privateKey)).message).toMatch(/is an encrypted key and no passphrase was given; set SNOWFLAKE_PRIVATE_KEY_PASSPHRASE/);
  });

  it('refuses a public key, a non-RSA key and a short RSA key with the fix', () => {
    expect(configError(() => load(plain.publicKey)).message).toMatch(/is not a PEM private key .* not the public key/);
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256', privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
    expect(configError(() => load(ec.privateKey)).message).toMatch(/holds a key of type ec; Snowflake key-pair authentication takes an RSA key/);
    const short = generateKeyPairSync('rsa', { modulusLength: 1024, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
    expect(configError(() => load(short.privateKey)).message).toMatch(/is a 1024-bit RSA key; Snowflake needs at least 2048 bits/);
  });
});
