/** `col_product_images`: one document per catalogue image. */
import type { SchemaProperties } from '../schema.js';
import { maybe, type DocContext } from './common.js';
import { ADJECTIVES, BRANDS, COLORS, CURRENCIES, PRODUCT_NOUNS, PRODUCT_TAXONOMY } from './words.js';

function ratings(ctx: DocContext): Record<string, unknown> {
  const r = ctx.stable;
  const distribution: Record<string, number> = {};
  for (const stars of ['1', '2', '3', '4', '5']) distribution[stars] = r.int(400);
  const count = Object.values(distribution).reduce((a, b) => a + b, 0);
  return { average: r.decimal(2.5, 5, 2), count, distribution };
}

/** Material details nested three levels deep, present on some products only. */
function attributes(ctx: DocContext): Record<string, unknown> {
  const r = ctx.stable;
  return {
    material: {
      primary: r.pick(['cotton', 'polyester', 'stainless steel', 'ceramic', 'aluminium']),
      certifications: r.sample(['OEKO-TEX', 'FSC', 'Fair Trade', 'GRS'], r.int(3)),
    },
    origin: { country: r.pick(['PT', 'VN', 'DE', 'JP', 'US']) },
  };
}

/** User and extractor fields of one product image; price and stock change per version. */
export function productFields(ctx: DocContext): Record<string, unknown> {
  const r = ctx.stable;
  const f = ctx.fresh;
  const brand = r.pick(BRANDS);
  const noun = r.pick(PRODUCT_NOUNS);
  const colors = r.sample(COLORS, 1 + r.int(3));
  const currency = r.pick(CURRENCIES);
  const price = currency === 'JPY' ? f.range(900, 60000) : f.decimal(4.99, 499.99, 2);
  return {
    title: `${brand} ${r.pick(ADJECTIVES)} ${noun}`,
    brand,
    price,
    currency,
    colors,
    caption: `A ${colors.join(' and ')} ${noun} photographed on a ${r.pick(['white', 'grey', 'wooden'])} background.`,
    in_stock: f.chance(0.8),
    taxonomy_categories_label: r.pick(PRODUCT_TAXONOMY),
    sku: maybe(r, 0.7, () => `SKU-${r.hex(6).toUpperCase()}`),
    dimensions_cm: maybe(r, 0.4, () => ({ width: r.decimal(5, 80, 1), height: r.decimal(5, 80, 1), depth: r.decimal(1, 40, 1) })),
    ratings: maybe(r, 0.5, () => ratings(ctx)),
    attributes: maybe(r, 0.3, () => attributes(ctx)),
    discontinued: maybe(r, 0.05, () => true),
    ...lateFields(ctx, brand),
  };
}

const DAY_MS = 86_400_000;
/** Release dates fall in 2023-01-01 plus up to ~3 years. */
const RELEASE_START_MS = Date.UTC(2023, 0, 1);

/**
 * Fields added for typed columns, from their own stream. `stock_count` comes from a merchant
 * feed that now and then sends text (`"12a"`) or a fraction (`12.5`) for its integer: about
 * 3% and 2% of products. `Brand` is that feed's copy of `brand`, in capitals, on a quarter of
 * products: two declared names equal ignoring case.
 */
function lateFields(ctx: DocContext, brand: string): Record<string, unknown> {
  const r = ctx.late;
  const release = RELEASE_START_MS + r.int(1100) * DAY_MS;
  const published = release + r.int(30 * DAY_MS);
  const stock = r.int(500);
  const odd = r.float();
  return {
    published_at: new Date(published).toISOString(),
    release_date: new Date(release).toISOString().slice(0, 10),
    stock_count: odd < 0.03 ? `${stock}a` : odd < 0.05 ? stock + 0.5 : stock,
    Brand: maybe(r, 0.25, () => brand.toUpperCase()),
  };
}

/**
 * What {@link productFields} writes, as `output_schema.properties`. `discontinued` (on 5% of
 * products) is deliberately left undeclared: schema sync samples documents and missed it.
 */
export const productSchema: SchemaProperties = {
  title: { type: 'string' },
  brand: { type: 'string' },
  price: { type: 'number' },
  currency: { type: 'string', enum: ['USD', 'EUR', 'GBP', 'JPY'] },
  colors: { type: 'array', items: { type: 'string' } },
  caption: { type: 'text' },
  in_stock: { type: 'boolean' },
  taxonomy_categories_label: { type: 'string' },
  sku: { type: 'string' },
  dimensions_cm: { type: 'object', properties: { width: { type: 'number' }, height: { type: 'number' }, depth: { type: 'number' } } },
  ratings: { type: 'object', properties: { average: { type: 'number' }, count: { type: 'integer' }, distribution: { type: 'object' } } },
  attributes: {
    type: 'object',
    properties: {
      material: { type: 'object', properties: { primary: { type: 'string' }, certifications: { type: 'array', items: { type: 'string' } } } },
      origin: { type: 'object', properties: { country: { type: 'string' } } },
    },
  },
  published_at: { type: 'datetime' },
  release_date: { type: 'date' },
  stock_count: { type: 'integer', description: 'Units in stock, from the merchant feed' },
  Brand: { type: 'string', description: 'Brand as the merchant feed spells it' },
};
