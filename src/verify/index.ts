/**
 * `verify`: checks what an export left at a destination, reading only.
 *
 * ```ts
 * const driver = await openDestination('s3://bucket/prefix');
 * const report = await verifyCollections(driver, ['col_abc']);
 * console.log(formatVerifyReport(report)); // report.consistent → exit 0, else 6
 * ```
 */
import { isSafeCollectionId } from '../commit/layout.js';
import { ConfigError } from '../errors.js';
import type { StorageDriver } from '../storage/types.js';
import { verifyCollection } from './collection.js';
import type { VerifyOptions, VerifyReport } from './findings.js';

export { verifyCollection } from './collection.js';
export type { Check, CollectionReport, Finding, Severity, VerifyOptions, VerifyReport } from './findings.js';
export { formatVerifyReport } from './report.js';

/** Verifies each collection in turn. Throws a ConfigError (exit 2) for an id that is not plain, a StorageError (exit 4) when the destination cannot be read. */
export async function verifyCollections(driver: StorageDriver, collectionIds: readonly string[], options: VerifyOptions = {}): Promise<VerifyReport> {
  const unsafe = collectionIds.find((id) => !isSafeCollectionId(id));
  if (unsafe !== undefined) throw new ConfigError(`collection id ${JSON.stringify(unsafe)} is not a plain id (letters, digits, _ . -; no / or ..); check --collection`);
  const collections = [];
  for (const id of collectionIds) collections.push(await verifyCollection(driver, id, options));
  const problems = collections.reduce((n, c) => n + c.problems, 0);
  return { consistent: problems === 0, problems, collections };
}
