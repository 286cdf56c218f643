/**
 * Sinks: what tells downstream systems that a run has finished (DESIGN.md section 10). Each
 * type has its own module; `createSink` builds one from its resolved spec (config.ts), and
 * deliver.ts runs them after each run and again for pending notifications.
 */
import { commandSink } from './command.js';
import type { SinkSpec } from './config.js';
import { databricksJobSink } from './databricks-job.js';
import { databricksSqlSink } from './databricks-sql.js';
import { snowpipeSink } from './snowpipe.js';
import type { Sink } from './types.js';
import { webhookSink } from './webhook.js';

export type { SinkSpec } from './config.js';
export type { Delivered, RunNotice, Sink, SinkEnv, SinkType } from './types.js';

/** Builds the sink `spec` describes. Throws ConfigError (exit 2) for an option it cannot use (an unreadable key), before any export. */
export function createSink(spec: SinkSpec): Sink {
  switch (spec.type) {
    case 'databricks-sql':
      return databricksSqlSink(spec);
    case 'databricks-job':
      return databricksJobSink(spec);
    case 'snowpipe':
      return snowpipeSink(spec);
    case 'webhook':
      return webhookSink(spec);
    case 'command':
      return commandSink(spec);
  }
}
