/**
 * The one redactor (STYLE.md item 9): the CLI's logger, the metrics push and the storage
 * drivers' error messages all use it, so a secret is scrubbed the same way wherever it
 * would have been printed.
 */

/**
 * Credentials by their shape, whatever their value: a SAS signature, a key or SAS inside a
 * connection string, a bearer token, an AWS access key id. They catch what the list of known
 * secrets cannot: a SAS the SDK re-encoded, or a token it fetched itself.
 */
const SECRET_SHAPES: readonly [RegExp, string][] = [
  [/\b(sig|AccountKey|SharedAccessSignature)=[^&;\s"']+/gi, '$1=***'],
  [/\bBearer\s+[\w.~+/=-]+/gi, 'Bearer ***'],
  [/\b(AKIA|ASIA)[A-Z0-9]{12,}\b/g, '***'],
];

/**
 * Replaces each secret (and its URL-encoded form) with `***`, then anything shaped like a
 * credential. Secrets shorter than 4 characters are ignored (they would blank ordinary words).
 * @example makeRedactor([process.env.MIXPEEK_API_KEY])('Bearer sk_live_1') // 'Bearer ***'
 */
export function makeRedactor(secrets: readonly (string | undefined)[]): (text: string) => string {
  const needles = secrets
    .filter((s): s is string => typeof s === 'string' && s.length >= 4)
    .flatMap((s) => [s, encodeURIComponent(s)])
    .sort((a, b) => b.length - a.length);
  return (text) => {
    const out = needles.reduce((acc, needle) => acc.split(needle).join('***'), text);
    return SECRET_SHAPES.reduce((acc, [shape, replacement]) => acc.replace(shape, replacement), out);
  };
}
