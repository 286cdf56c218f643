/** `col_product_images`: one document per catalogue image. */
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
  };
}
