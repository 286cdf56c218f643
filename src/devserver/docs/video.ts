/** `col_video_frames`: one document per keyframe of a video (reference §2a example). */
import type { SchemaProperties } from '../schema.js';
import { maybe, type DocContext } from './common.js';
import { OBJECT_LABELS, PRODUCT_TAXONOMY, SCENE_ACTIONS, SCENE_SETTINGS, SCENE_SUBJECTS } from './words.js';

/** Keyframes cut from one source video; also the `docsPerObject` of the collection. */
export const FRAMES_PER_VIDEO = 48;
const KEYFRAME_SECONDS = 2.5;
const FPS = 30;

function detectedObject(ctx: DocContext): Record<string, unknown> {
  const r = ctx.stable;
  const x = r.decimal(0, 0.8, 4);
  const y = r.decimal(0, 0.8, 4);
  return {
    label: r.pick(OBJECT_LABELS),
    confidence: r.decimal(0.35, 0.999, 3),
    bbox: [x, y, r.decimal(0.05, 1 - x, 4), r.decimal(0.05, 1 - y, 4)],
  };
}

/** Camera metadata nested four levels deep, present on some frames only. */
function camera(ctx: DocContext): Record<string, unknown> {
  const r = ctx.stable;
  return {
    make: r.pick(['Sony', 'Canon', 'DJI', 'Apple']),
    settings: {
      exposure: { iso: r.pick([100, 200, 400, 800, 1600]), shutter: r.pick(['1/60', '1/250', '1/1000']) },
      lens: { focal_mm: r.pick([14, 24, 35, 50, 85]), stabilised: r.chance(0.5) },
    },
  };
}

/** User and extractor fields of one frame; the description and label change per version. */
export function videoFrameFields(ctx: DocContext): Record<string, unknown> {
  const r = ctx.stable;
  const f = ctx.fresh;
  const frame = ctx.version.index % FRAMES_PER_VIDEO;
  const start = frame * KEYFRAME_SECONDS;
  const objects = Array.from({ length: r.int(6) }, () => detectedObject(ctx));
  return {
    start_time: start,
    end_time: start + KEYFRAME_SECONDS,
    frame_number: Math.round(start * FPS),
    scene_description: `${f.pick(SCENE_SUBJECTS)} ${f.pick(SCENE_ACTIONS)} ${f.pick(SCENE_SETTINGS)}`,
    detected_objects: objects,
    thumbnail_url: `https://cdn.mixpeek-dev.example/thumbs/${ctx.version.id}.jpg`,
    taxonomy_products_label: f.pick(PRODUCT_TAXONOMY),
    campaign_id: maybe(r, 0.4, () => r.pick(['Q3_2025', 'Q4_2025', 'Q1_2026'])),
    duration: maybe(r, 0.6, () => FRAMES_PER_VIDEO * KEYFRAME_SECONDS),
    cluster_id: maybe(r, 0.3, () => `cl_${r.hex(8)}`),
    camera: maybe(r, 0.35, () => camera(ctx)),
    luma_histogram: Array.from({ length: 8 }, () => ctx.late.int(4096)),
    // A taxonomy label under a hyphenated name, as a user-named enrichment writes it: no column can carry it.
    'scene-label': maybe(ctx.late, 0.7, () => ctx.late.pick(SCENE_LABELS)),
  };
}

const SCENE_LABELS = ['outdoor/street', 'outdoor/nature', 'indoor/retail', 'indoor/office', 'event/crowd'] as const;

/** What {@link videoFrameFields} writes, as `output_schema.properties`. */
export const videoFrameSchema: SchemaProperties = {
  start_time: { type: 'number', description: 'Keyframe start, seconds into the video' },
  end_time: { type: 'number' },
  frame_number: { type: 'integer' },
  scene_description: { type: 'text' },
  detected_objects: {
    type: 'array',
    items: { type: 'object', properties: { label: { type: 'string' }, confidence: { type: 'float' }, bbox: { type: 'array', items: { type: 'float' } } } },
  },
  thumbnail_url: { type: 'image' },
  taxonomy_products_label: { type: 'string' },
  campaign_id: { type: 'string' },
  duration: { type: 'float' },
  cluster_id: { type: 'string' },
  camera: {
    type: 'object',
    properties: {
      make: { type: 'string' },
      settings: { type: 'object', properties: { exposure: { type: 'object' }, lens: { type: 'object' } } },
    },
  },
  luma_histogram: { type: 'array', items: { type: 'integer' }, description: '8-bin luminance histogram' },
  'scene-label': { type: 'string' },
};
