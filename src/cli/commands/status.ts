/**
 * `mixpeek-export status`: per collection, the checkpoint, an interrupted run, the last runs
 * and the lag. Reads only; exit 0. With `--all-collections` the namespace is listed through
 * the API first (MIXPEEK_API_KEY needed), as export lists it.
 */
import { loadStorageSettings, type StorageSettings } from '../../config/load.js';
import type { ExitCode } from '../../errors.js';
import { chooseCollections } from '../../source/collections.js';
import type { DestinationOptions } from '../../storage/index.js';
import type { ParsedFlags } from '../flags.js';
import { cliLogger } from '../output.js';
import { formatStatus, statusReport } from '../status.js';
import type { CommandIo } from './types.js';

export async function statusCommand(flags: ParsedFlags, io: CommandIo): Promise<ExitCode> {
  const settings = loadStorageSettings('status', { flags: flags.settings, env: io.env, configFile: flags.config });
  const collections = await chooseCollections(settings, cliLogger(process.stderr, 'info', io.redact));
  const report = await statusReport(settings.destination, collections, new Date(), { ...storageOptions(settings), reconcileEveryHours: (settings as { reconcileEveryHours?: number }).reconcileEveryHours });
  io.stdout(io.redact(flags.json ? JSON.stringify(report, null, 2) : formatStatus(report)) + '\n');
  return 0;
}

/** The driver options of a reading command (no upload sizes: status and verify write nothing). */
export function storageOptions(settings: StorageSettings): DestinationOptions {
  const { s3Region, s3Endpoint, s3ForcePathStyle, azureConnectionString, azureAccountKey, azureSasToken } = settings;
  return { s3Region, s3Endpoint, s3ForcePathStyle, azureConnectionString, azureAccountKey, azureSasToken };
}
