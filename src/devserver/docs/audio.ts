/** `col_audio_transcripts`: one document per transcribed audio chunk, in six languages. */
import type { Rng } from '../prng.js';
import type { SchemaProperties } from '../schema.js';
import { maybe, type DocContext } from './common.js';
import { LANGUAGES, SPEAKER_NAMES, UTTERANCES } from './words.js';

/** Chunks cut from one recording; also the `docsPerObject` of the collection. */
export const CHUNKS_PER_RECORDING = 12;
const CHUNK_SECONDS = 60;

interface Segment { start: number; end: number; speaker: string; text: string }

function segments(r: Rng, lang: (typeof LANGUAGES)[number], speakers: string[], offset: number): Segment[] {
  const out: Segment[] = [];
  let t = offset;
  const n = 2 + r.int(6);
  for (let i = 0; i < n; i++) {
    const len = r.decimal(1.5, CHUNK_SECONDS / n, 2);
    out.push({ start: Number(t.toFixed(2)), end: Number((t + len).toFixed(2)), speaker: r.pick(speakers), text: r.pick(UTTERANCES[lang]) });
    t += len;
  }
  return out;
}

/** Per-speaker sentiment nested three levels deep, present on some chunks only. */
function sentiment(r: Rng, speakers: string[]): Record<string, unknown> {
  const bySpeaker: Record<string, unknown> = {};
  for (const s of speakers) bySpeaker[s] = { score: r.decimal(-1, 1, 3), label: r.pick(['positive', 'neutral', 'negative']) };
  return { overall: r.decimal(-1, 1, 3), by_speaker: bySpeaker };
}

/** User and extractor fields of one chunk; the transcript changes per version (a re-run of ASR). */
export function audioFields(ctx: DocContext): Record<string, unknown> {
  const r = ctx.stable;
  const f = ctx.fresh;
  const language = r.pick(LANGUAGES);
  const speakers = r.sample(SPEAKER_NAMES, 1 + r.int(3));
  const offset = (ctx.version.index % CHUNKS_PER_RECORDING) * CHUNK_SECONDS;
  const segs = segments(f, language, speakers, offset);
  return {
    transcript: segs.map((s) => s.text).join(' '),
    language,
    speakers,
    segments: segs,
    start_time: offset,
    end_time: offset + CHUNK_SECONDS,
    asr_model: maybe(r, 0.5, () => r.pick(['whisper-large-v3', 'parakeet-tdt-1.1b'])),
    sentiment: maybe(r, 0.3, () => sentiment(r, speakers)),
    keywords: maybe(r, 0.4, () => r.sample(['pricing', 'roadmap', 'launch', 'hiring', 'Q4', '東京', 'Αθήνα'], 1 + r.int(3))),
  };
}

/** What {@link audioFields} writes, as `output_schema.properties`. */
export const audioSchema: SchemaProperties = {
  transcript: { type: 'text' },
  language: { type: 'string' },
  speakers: { type: 'array', items: { type: 'string' } },
  segments: {
    type: 'array',
    items: { type: 'object', properties: { start: { type: 'number' }, end: { type: 'number' }, speaker: { type: 'string' }, text: { type: 'text' } } },
  },
  start_time: { type: 'integer', description: 'Chunk start, whole seconds into the recording' },
  end_time: { type: 'integer' },
  asr_model: { type: 'string' },
  sentiment: { type: 'object', properties: { overall: { type: 'float' }, by_speaker: { type: 'object' } } },
  keywords: { type: 'array', items: { type: 'string' } },
};
