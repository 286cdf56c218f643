/**
 * `mixpeek-export serve`: the long-running server (src/serve/). Loads export's settings plus
 * the server's, refuses to start without MIXPEEK_INBOUND_WEBHOOK_SECRET (exit 2), logs with
 * export's logger and redactor, and on SIGTERM/SIGINT stops taking events, lets running
 * exports end at their next commit point and exits 0 (143 when they did not within
 * `shutdownTimeoutSeconds`); a second signal exits at once, as for export.
 */
import { loadServeSettings } from '../../config/load.js';
import type { ExitCode } from '../../errors.js';
import { startServe } from '../../serve/index.js';
import { sinkSecrets } from '../../sinks/config.js';
import { makeRedactor } from '../../util/log.js';
import type { ParsedFlags } from '../flags.js';
import { cliLogger } from '../output.js';
import { crashHook } from './export.js';
import type { CommandIo } from './types.js';

export async function serveCommand(flags: ParsedFlags, io: CommandIo): Promise<ExitCode> {
  const settings = loadServeSettings({ flags: flags.settings, env: io.env, configFile: flags.config });
  const fileSecrets = makeRedactor([...sinkSecrets(settings.sinks), settings.inboundWebhookSecret]);
  const redact = (text: string) => fileSecrets(io.redact(text));
  // No progress line: a server's stderr is a log, TTY or not.
  const logger = cliLogger(process.stderr, settings.logLevel, redact);
  const interrupts = io.interrupts();
  const signalled = new Promise<'SIGINT' | 'SIGTERM'>((resolve) => interrupts.onInterrupt(resolve));
  const server = await startServe(settings, { logger, exportDeps: { onStep: crashHook(io.env.MIXPEEK_EXPORT_TEST_CRASH_AT) } });
  const signal = await signalled;
  logger.warn('InterruptReceived', { signal, note: 'no new events; running exports stop at their next commit point, the checkpoint stays valid' });
  const { clean } = await server.stop(signal);
  if (!clean) io.exit(143);
  return 0;
}
