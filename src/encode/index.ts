/**
 * File encoders: rows in, one file's bytes out (DESIGN.md sections 4-5).
 *
 * ```ts
 * const encoder = createEncoder({ format: 'parquet', compression: 'zstd', vectorKeys: [] });
 * const upload = pipeline(encoder.output, sink);        // consume output while writing
 * for await (const row of rows) await encoder.write(row);
 * await Promise.all([encoder.end(), upload]);
 * ```
 */
import { defaultCompression, extensionFor, validateCodec } from './codecs.js';
import { NdjsonEncoder } from './ndjson.js';
import { DEFAULT_ROW_GROUP_BYTES, DEFAULT_ROW_GROUP_ROWS, ParquetEncoder } from './parquet.js';
import type { EncoderOptions, FileEncoder } from './types.js';

export type { Compression, EncoderOptions, FileEncoder, Format } from './types.js';
export { readParquetFooter, type ParquetFooter } from './footer.js';
export { DEFAULT_ROW_GROUP_BYTES, DEFAULT_ROW_GROUP_ROWS };
export { defaultCompression, extensionFor, validateCodec };

/** Largest `rowGroupBytes`: Arrow string offsets are 32-bit, so a row group must stay well under 2 GiB. */
const MAX_ROW_GROUP_BYTES = 1024 * 1024 * 1024;

/** A new encoder for one file. Options are validated here, before any bytes are produced. */
export function createEncoder(options: EncoderOptions): FileEncoder {
  validateCodec(options.format, options.compression);
  const { rowGroupRows, rowGroupBytes } = options;
  if (rowGroupRows !== undefined && !(Number.isInteger(rowGroupRows) && rowGroupRows >= 1)) {
    throw new Error(`rowGroupRows must be a positive integer, got ${rowGroupRows}`);
  }
  if (rowGroupBytes !== undefined && !(rowGroupBytes >= 1 && rowGroupBytes <= MAX_ROW_GROUP_BYTES)) {
    throw new Error(`rowGroupBytes must be between 1 and ${MAX_ROW_GROUP_BYTES}, got ${rowGroupBytes}`);
  }
  for (const flag of ['worker', 'dictionary'] as const) {
    if (options[flag] !== undefined && typeof options[flag] !== 'boolean') throw new Error(`${flag} must be true or false, got ${String(options[flag])}`);
  }
  return options.format === 'parquet' ? new ParquetEncoder(options) : new NdjsonEncoder(options);
}
