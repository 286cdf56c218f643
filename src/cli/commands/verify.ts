/**
 * `mixpeek-export verify`: exit 0 when every collection is consistent, 6 when a problem was
 * found (4: storage unreadable, 2: bad flags, 3: `--all-collections` could not list the namespace).
 */
import { loadStorageSettings } from '../../config/load.js';
import type { ExitCode } from '../../errors.js';
import { chooseCollections } from '../../source/collections.js';
import { openDestination } from '../../storage/index.js';
import { formatVerifyReport, verifyCollections } from '../../verify/index.js';
import type { ParsedFlags } from '../flags.js';
import { cliLogger } from '../output.js';
import { storageOptions } from './status.js';
import type { CommandIo } from './types.js';

export async function verifyCommand(flags: ParsedFlags, io: CommandIo): Promise<ExitCode> {
  const settings = loadStorageSettings('verify', { flags: flags.settings, env: io.env, configFile: flags.config });
  const collections = await chooseCollections(settings, cliLogger(process.stderr, 'info', io.redact));
  const driver = await openDestination(settings.destination, storageOptions(settings));
  try {
    const report = await verifyCollections(driver, collections);
    io.stdout(io.redact(flags.json ? JSON.stringify(report, null, 2) : formatVerifyReport(report)) + '\n');
    return report.consistent ? 0 : 6;
  } finally {
    await driver.close?.();
  }
}
