/**
 * Which codecs each format takes and the file suffix each pair gets. Kept apart from the
 * encoders, so settings resolution, `ddl` and `verify` decide names and codecs without
 * loading parquet-wasm or the zstd wasm module.
 */
import type { Compression, Format } from './types.js';

/** Codecs each format accepts; the first is the default. */
const CODECS: Record<Format, readonly Compression[]> = {
  parquet: ['zstd', 'snappy', 'none'],
  ndjson: ['gzip', 'zstd', 'none'],
};

const NDJSON_EXTENSIONS: Record<string, string> = { gzip: '.json.gz', zstd: '.json.zst', none: '.json' };

/** The default codec of a format: parquet → zstd, ndjson → gzip. */
export function defaultCompression(format: Format): Compression {
  const codecs = CODECS[format];
  if (!codecs) throw new Error(`format "${String(format)}" is not valid; choose one of: parquet, ndjson`);
  return codecs[0]!;
}

/** Throws a plain Error naming the valid choices when `compression` does not fit `format`. */
export function validateCodec(format: Format, compression: Compression): void {
  const codecs = CODECS[format];
  if (!codecs) throw new Error(`format "${String(format)}" is not valid; choose one of: parquet, ndjson`);
  if (!codecs.includes(compression)) {
    throw new Error(`compression "${String(compression)}" is not valid for ${format}; choose one of: ${codecs.join(', ')}`);
  }
}

/** File name suffix: `.parquet` (the codec is inside the file), `.json.gz`, `.json.zst` or `.json`. */
export function extensionFor(format: Format, compression: Compression): string {
  validateCodec(format, compression);
  return format === 'parquet' ? '.parquet' : (NDJSON_EXTENSIONS[compression] as string);
}
