/** PLACEHOLDER: replaced by the sink's implementation (issue 14). */
import { InternalError } from '../errors.js';
import type { DatabricksSqlSpec } from './config.js';
import type { Sink } from './types.js';

export function databricksSqlSink(spec: DatabricksSqlSpec): Sink {
  return {
    name: spec.name,
    type: spec.type,
    endpoint: '(not built yet)',
    deliver: async () => {
      throw new InternalError('not built yet');
    },
  };
}
