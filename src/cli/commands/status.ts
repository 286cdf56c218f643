/** `mixpeek-export status`: per collection, the checkpoint, an interrupted run, the last runs and the lag. Reads only; exit 0. */
import { loadStorageSettings, type StorageSettings } from '../../config/load.js';
import type { ExitCode } from '../../errors.js';
import type { DestinationOptions } from '../../storage/index.js';
import type { ParsedFlags } from '../flags.js';
import { formatStatus, statusReport } from '../status.js';
import type { CommandIo } from './types.js';

export async function statusCommand(flags: ParsedFlags, io: CommandIo): Promise<ExitCode> {
  const settings = loadStorageSettings('status', { flags: flags.settings, env: io.env, configFile: flags.config });
  const report = await statusReport(settings.destination, settings.collections, new Date(), { ...storageOptions(settings), reconcileEveryHours: (settings as { reconcileEveryHours?: number }).reconcileEveryHours });
  io.stdout(io.redact(flags.json ? JSON.stringify(report, null, 2) : formatStatus(report)) + '\n');
  return 0;
}

/** The driver options of a reading command (no upload sizes: status and verify write nothing). */
export function storageOptions(settings: StorageSettings): DestinationOptions {
  const { s3Region, s3Endpoint, s3ForcePathStyle, azureConnectionString, azureAccountKey, azureSasToken } = settings;
  return { s3Region, s3Endpoint, s3ForcePathStyle, azureConnectionString, azureAccountKey, azureSasToken };
}
