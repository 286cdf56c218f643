/**
 * Resolution: the one step after validation that turns the settings' text into the values
 * every module uses, so nothing downstream parses a setting again. Throws a ConfigError
 * (exit 2) before any I/O, lease or network call.
 */
import { defaultCompression, validateCodec } from '../encode/codecs.js';
import type { Compression, Format } from '../encode/types.js';
import { ConfigError } from '../errors.js';
import { type Destination, parseDestination } from '../storage/destination.js';
import { parseTimeArg, type Shard, shardOf } from './range.js';
import type { Settings } from './schema.js';
import { resolveSinks, type SinkSpec } from '../sinks/config.js';

/** The parsed `--since`, `--until` and `--shard`. */
export interface ResolvedRange {
  /** `--since` as a canonical UTC timestamp; a span (`7d`) is measured back from the moment of resolution. Null: not given. */
  since: string | null;
  /** `--until`, as `since`. Null: not given (the window ends one safety lag before the run start). */
  until: string | null;
  /** `--shard i/n` and its slice of `[since, until)`; null without `--shard`. */
  shard: Shard | null;
}

/**
 * The settings every module runs with: the validated settings as given (`since`, `shard`,
 * `dest` stay the user's text, for messages), plus what was parsed from them once. The parsed
 * fields are derived: to change `dest`, `since`, `until`, `shard`, `format` or `compression`,
 * resolve again (`resolveSettings`) rather than spreading a new value over a resolved object.
 * @example const settings = loadSettings({ flags, env: process.env }); // resolved
 *          settings.range.shard?.lo; settings.destination.kind; settings.compression
 */
export interface ResolvedSettings extends Omit<Settings, 'compression' | 'sinks'> {
  /** The codec in force: the setting's, else the format's default; checked against the format. */
  compression: Compression;
  range: ResolvedRange;
  /** `dest`, parsed (SDK-free) into its parts. */
  destination: Destination;
  /** The sinks each completed run notifies, resolved from the config file's `sinks:` and the environment, secrets read (src/sinks/config.ts). */
  sinks: SinkSpec[];
}

/**
 * Resolves validated settings; `now` is what a span (`--since 24h`) is measured from, `env`
 * is where the sinks' options and secrets are read (default none: only `sinks:` entries that
 * need no secret resolve without it).
 */
export function resolveSettings(settings: Settings, now: Date = new Date(), env: Record<string, string | undefined> = {}): ResolvedSettings {
  const { sinks, ...rest } = settings;
  return {
    ...rest,
    sinks: resolveSinks(sinks, env),
    compression: resolveCodec(settings.format, settings.compression),
    range: resolveRange(settings, now),
    destination: parseDestination(settings.dest),
  };
}

/** `--since`/`--until`/`--shard`. A shard needs both bounds absolute; refused here (exit 2), not after the lease. */
export function resolveRange(settings: Pick<Settings, 'since' | 'until' | 'shard'>, now: Date): ResolvedRange {
  const shard = shardOf(settings);
  return {
    since: settings.since === undefined ? null : parseTimeArg(settings.since, now, 'since'),
    until: settings.until === undefined ? null : parseTimeArg(settings.until, now, 'until'),
    shard,
  };
}

/** The codec in force for `format`; a codec the format does not have is a ConfigError naming the choices. */
export function resolveCodec(format: Format, compression: Compression | undefined): Compression {
  const codec = compression ?? defaultCompression(format);
  try {
    validateCodec(format, codec);
  } catch (error) {
    throw new ConfigError(`--compression ${codec}: ${(error as Error).message}`);
  }
  return codec;
}
