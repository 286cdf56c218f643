/** `col_pdf_pages`: one document per PDF page; a few pages carry a very large text field. */
import type { Rng } from '../prng.js';
import type { SchemaProperties } from '../schema.js';
import { maybe, type DocContext } from './common.js';
import { HEADINGS, PDF_TITLES, SENTENCES } from './words.js';

/** Pages per source PDF; also the `docsPerObject` of the collection. */
export const PAGES_PER_PDF = 20;
/** One page in this many has a huge text field (scanned appendix, OCR'd table dump). */
export const LARGE_TEXT_EVERY = 500;
/** Target length of a large text field, in characters (all ASCII, so also bytes). */
export const LARGE_TEXT_CHARS = 300_000;

function paragraph(r: Rng, sentences: number): string {
  const out: string[] = [];
  for (let i = 0; i < sentences; i++) out.push(r.pick(SENTENCES));
  return out.join(' ');
}

/** ~300 KB of text, built by repeating one paragraph with numbered lines (cheap to make). */
function largeText(r: Rng): string {
  const para = paragraph(r, 8);
  const parts: string[] = [];
  let size = 0;
  for (let line = 1; size < LARGE_TEXT_CHARS; line++) {
    const piece = `[${line}] ${para}\n`;
    parts.push(piece);
    size += piece.length;
  }
  return parts.join('');
}

function table(r: Rng): unknown[] {
  const cols = 2 + r.int(3);
  const header = Array.from({ length: cols }, (_, i) => (i === 0 ? 'Item' : `FY${2022 + i}`));
  const rows = Array.from({ length: 1 + r.int(5) }, (_, k) => [
    `Line ${k + 1}`, ...Array.from({ length: cols - 1 }, () => r.decimal(-500, 5000, 1)),
  ]);
  return [header, ...rows];
}

/** Layout analysis nested four levels deep, present on some pages only. */
function layout(r: Rng): Record<string, unknown> {
  return {
    columns: 1 + r.int(2),
    blocks: Array.from({ length: 1 + r.int(3) }, () => ({
      type: r.pick(['paragraph', 'heading', 'table', 'figure']),
      geometry: { bbox: { x: r.decimal(0, 0.5, 3), y: r.decimal(0, 0.9, 3), w: r.decimal(0.1, 0.5, 3), h: r.decimal(0.02, 0.3, 3) } },
    })),
  };
}

/** User and extractor fields of one page; the text changes per version. */
export function pdfPageFields(ctx: DocContext): Record<string, unknown> {
  const r = ctx.stable;
  const f = ctx.fresh;
  const index = ctx.version.index;
  const large = index % LARGE_TEXT_EVERY === LARGE_TEXT_EVERY - 1;
  return {
    document_title: r.pick(PDF_TITLES),
    page_number: (index % PAGES_PER_PDF) + 1,
    page_count: PAGES_PER_PDF,
    text: large ? largeText(f) : paragraph(f, 3 + f.int(10)),
    headings: r.sample(HEADINGS, r.int(4)),
    tables: maybe(r, 0.3, () => Array.from({ length: 1 + r.int(2) }, () => table(r))),
    ocr: maybe(r, 0.25, () => ({ engine: { name: 'tesseract', version: '5.3.4' }, confidence: r.decimal(0.6, 0.99, 3) })),
    layout: maybe(r, 0.3, () => layout(r)),
    language: maybe(r, 0.5, () => 'en'),
    // Set by a second OCR pass on some pages; a name starting with a digit cannot be a column.
    '2nd_pass': maybe(ctx.late, 0.1, () => ctx.late.chance(0.8)),
  };
}

/** What {@link pdfPageFields} writes, as `output_schema.properties`. */
export const pdfPageSchema: SchemaProperties = {
  document_title: { type: 'string' },
  page_number: { type: 'integer' },
  page_count: { type: 'integer' },
  text: { type: 'text' },
  headings: { type: 'array', items: { type: 'string' } },
  tables: { type: 'array', items: { type: 'array' }, description: 'Each table as rows of cells, header first' },
  ocr: { type: 'object', properties: { engine: { type: 'object', properties: { name: { type: 'string' }, version: { type: 'string' } } }, confidence: { type: 'float' } } },
  layout: { type: 'object', properties: { columns: { type: 'integer' }, blocks: { type: 'array', items: { type: 'object' } } } },
  language: { type: 'string' },
  '2nd_pass': { type: 'boolean' },
};
