#!/usr/bin/env node
/**
 * The CLI entry: the only place that reads argv/env, installs signal handlers and sets the
 * exit code. It dispatches to one file per command (commands/) and maps errors to exit codes.
 */
import { type Command, COMMANDS } from '../config/commands.js';
import { nearest } from '../config/load.js';
import { ConfigError, ExportError, type ExitCode } from '../errors.js';
import { SINK_SECRET_ENV_VARS } from '../sinks/config.js';
import { makeRedactor } from '../util/log.js';
import { ddlCommand } from './commands/ddl.js';
import { exportCommand } from './commands/export.js';
import { commandUsage, usage } from './commands/help.js';
import { reconcileCommand } from './commands/reconcile.js';
import { serveCommand } from './commands/serve.js';
import { statusCommand } from './commands/status.js';
import type { CommandIo, Interrupts } from './commands/types.js';
import { verifyCommand } from './commands/verify.js';
import { type ParsedFlags, parseFlags } from './flags.js';

const RUNNERS: Record<Exclude<Command, 'ddl'>, (flags: ParsedFlags, io: CommandIo) => Promise<ExitCode>> = {
  export: exportCommand,
  reconcile: reconcileCommand,
  status: statusCommand,
  verify: verifyCommand,
  serve: serveCommand,
};

/** Every secret the process may hold, for the redactor: API key, Azure secrets and each part of a connection string, AWS keys, the sinks' secrets, serve's inbound secret. */
function secretValues(env: NodeJS.ProcessEnv): (string | undefined)[] {
  const connectionParts = (env.AZURE_STORAGE_CONNECTION_STRING ?? '')
    .split(';')
    .filter((part) => /^(AccountKey|SharedAccessSignature)=/i.test(part))
    .map((part) => part.slice(part.indexOf('=') + 1));
  const sasSignature = /sig=([^&]+)/.exec(env.AZURE_STORAGE_SAS_TOKEN ?? '')?.[1];
  const gateway = env.MIXPEEK_EXPORT_METRICS_PUSHGATEWAY ?? '';
  const gatewayPassword = URL.canParse(gateway) ? decodeURIComponent(new URL(gateway).password) : undefined;
  const sinkSecrets = SINK_SECRET_ENV_VARS.map((name) => env[name]);
  const webhookKey = env.MIXPEEK_EXPORT_WEBHOOK_SECRET?.replace(/^whsec_/, '');
  return [...sinkSecrets, webhookKey, env.MIXPEEK_INBOUND_WEBHOOK_SECRET, env.MIXPEEK_API_KEY, env.AZURE_STORAGE_CONNECTION_STRING, env.AZURE_STORAGE_KEY, env.AZURE_STORAGE_SAS_TOKEN, sasSignature, ...connectionParts, env.AWS_SECRET_ACCESS_KEY, env.AWS_SESSION_TOKEN, gatewayPassword];
}

async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<ExitCode> {
  const redact = makeRedactor(secretValues(env));
  const io: CommandIo = { env, redact, stdout: (text) => process.stdout.write(text), interrupts, exit: (code) => process.exit(code) };
  const [command, ...rest] = argv;
  try {
    if (!command || command === 'help' || command === '--help' || command === '-h') {
      const topic = command === 'help' && COMMANDS.includes(rest[0] as Command) ? (rest[0] as Command) : undefined;
      io.stdout((topic ? commandUsage(topic) : usage()) + '\n');
      return command ? 0 : 2;
    }
    if (!COMMANDS.includes(command as Command)) {
      throw new ConfigError(`unknown command "${command}"; did you mean "${nearest(command, COMMANDS)}"? (see mixpeek-export --help)`);
    }
    if (command === 'ddl') return await ddlCommand(rest, io);
    const flags = parseFlags(rest, command as Command);
    if (flags.help) {
      io.stdout(commandUsage(command as Command) + '\n');
      return 0;
    }
    return await RUNNERS[command as Exclude<Command, 'ddl'>](flags, io);
  } catch (error) {
    const e = error instanceof ExportError ? error : null;
    process.stderr.write(redact(`mixpeek-export: ${e ? e.message : (error as Error)?.stack ?? String(error)}`) + '\n');
    return e?.exitCode ?? 4;
  }
}

/** SIGINT/SIGTERM: the first stops the run cleanly (the checkpoint stays valid), a second exits at once. */
function interrupts(): Interrupts {
  const controller = new AbortController();
  const listeners: ((signal: 'SIGINT' | 'SIGTERM') => void)[] = [];
  const onSignal = (signal: 'SIGINT' | 'SIGTERM') => {
    if (controller.signal.aborted) process.exit(signal === 'SIGINT' ? 130 : 143); // second signal: stop now
    for (const listener of listeners) listener(signal);
    controller.abort({ signal });
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  return { signal: controller.signal, onInterrupt: (listener) => listeners.push(listener) };
}

main(process.argv.slice(2), process.env).then((code) => {
  process.exitCode = code;
});
