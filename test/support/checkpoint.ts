/**
 * Tests read a collection's checkpoint the way the exporter does: through a storage driver
 * and the checkpoint store, which parses and checks it, never by `readFileSync` + `JSON.parse`
 * of `_state/checkpoint.json`. So a test sees what the next run would see, and follows the
 * store when the checkpoint's layout or format changes.
 *
 * @example
 * const checkpoint = await readCheckpoint(dest, 'col_abc');       // a local folder
 * expect(checkpoint.active).toBeNull();
 * const before = await readCheckpointBytes(driver, 'col_abc');    // any driver: proves "not rewritten"
 */
import path from 'node:path';
import { type Checkpoint, CheckpointStore } from '../../src/commit/checkpoint.js';
import { layout, type ShardRef } from '../../src/commit/layout.js';
import { fsDriver } from '../../src/storage/drivers/fs.js';
import type { StorageDriver } from '../../src/storage/types.js';

/** A driver given as is, or a local destination folder opened with the fs driver. */
function driverOf(where: string | StorageDriver): StorageDriver {
  return typeof where === 'string' ? fsDriver({ root: path.resolve(where) }) : where;
}

/**
 * The checkpoint of `collectionId` (with `shard`, that shard's own) as the checkpoint store
 * loads it. Throws, as a run would, when it is corrupt or for another collection, and (unlike
 * the store, which starts from an empty one) when there is none: a test that reads it expects
 * a run to have written it.
 */
export async function readCheckpoint(where: string | StorageDriver, collectionId: string, shard?: ShardRef | null): Promise<Checkpoint> {
  const driver = driverOf(where);
  const key = layout.checkpoint(collectionId, shard);
  if (!(await driver.head(key))) throw new Error(`no checkpoint at ${driver.url(key)}; the export under test should have written one`);
  return (await CheckpointStore.load(driver, collectionId, shard)).value;
}

/**
 * The checkpoint's stored bytes, read through the driver, or null when there is none: for
 * tests whose assertion is that a step did not rewrite it (compare before and after).
 */
export async function readCheckpointBytes(where: string | StorageDriver, collectionId: string, shard?: ShardRef | null): Promise<Buffer | null> {
  return (await driverOf(where).read(layout.checkpoint(collectionId, shard)))?.body ?? null;
}
