/**
 * Vocabulary for the generated documents. Deliberately mixed: the transcripts carry Japanese,
 * Greek, Arabic and emoji (including astral-plane characters and a ZWJ sequence), because an
 * exporter that mangles UTF-16 surrogates or byte lengths should fail a test, not production.
 */

export const SCENE_SUBJECTS = [
  'a cyclist', 'two hikers', 'a barista', 'a delivery van', 'a golden retriever', 'a crowd',
  'a chef', 'a drone shot of a harbour', 'a child with a kite', 'a tram', 'a runner', 'a street vendor',
] as const;

export const SCENE_ACTIONS = [
  'crossing a rainy street', 'pouring latte art', 'waiting at a traffic light', 'walking along a beach',
  'unboxing a laptop', 'climbing a rocky trail', 'cheering at a stadium', 'loading parcels',
  'chopping vegetables', 'passing under a bridge', 'reading a menu', 'taking a selfie',
] as const;

export const SCENE_SETTINGS = [
  'at dusk', 'in bright sunlight', 'under neon signs', 'in light fog', 'indoors', 'at night',
  'in a busy market', 'near a fountain', 'beside a parked car', 'on a snowy morning',
] as const;

export const OBJECT_LABELS = [
  'person', 'bicycle', 'car', 'dog', 'cup', 'laptop', 'backpack', 'umbrella', 'bottle',
  'traffic light', 'handbag', 'phone', 'chair', 'bus', 'sneaker', 'watch',
] as const;

export const PRODUCT_TAXONOMY = ['Electronics', 'Footwear', 'Apparel', 'Home & Kitchen', 'Sports', 'Beauty', 'Toys'] as const;

export const BRANDS = ['Northwind', 'Acme', 'Lumen & Co.', 'Kaizen', 'Ødegaard', 'Bellwether', 'Café Noir', 'Zephyr'] as const;

export const PRODUCT_NOUNS = [
  'running shoe', 'wireless headphones', 'ceramic mug', 'rain jacket', 'yoga mat', 'desk lamp',
  'backpack', 'smart watch', 'chef knife', 'wool scarf', 'water bottle', 'bluetooth speaker',
] as const;

export const ADJECTIVES = ['lightweight', 'waterproof', 'recycled', 'compact', 'premium', 'classic', 'ergonomic', 'limited-edition'] as const;

export const COLORS = ['black', 'white', 'navy', 'forest green', 'crimson', 'sand', 'slate grey', 'coral', 'mustard'] as const;

export const CURRENCIES = ['USD', 'EUR', 'GBP', 'JPY'] as const;

export const PDF_TITLES = [
  'Annual Report 2025', 'Safety Data Sheet', 'Service Agreement', 'Product Manual v3', 'Clinical Study Protocol',
  'Quarterly Earnings Call Deck', 'Board Minutes', 'Warranty Terms',
] as const;

export const HEADINGS = [
  'Executive Summary', 'Scope', 'Definitions', 'Results', 'Methodology', 'Risk Factors', 'Appendix A',
  'Installation', 'Troubleshooting', 'Financial Highlights', 'Terms and Conditions', 'Contact',
] as const;

export const SENTENCES = [
  'Revenue grew 12% year over year, driven by subscription renewals in the EMEA region.',
  'The device must be installed at least 30 cm away from any heat source.',
  'All capitalised terms have the meaning given to them in Section 1.',
  'Participants were randomised 1:1 to the treatment or the placebo arm.',
  'Operating margin improved to 18.4% as logistics costs normalised.',
  'Press and hold the reset button for ten seconds until the LED blinks amber.',
  'This agreement is governed by the laws of the State of Delaware.',
  'No serious adverse events were reported during the follow-up period.',
  'Figures are unaudited and may be restated in the annual filing.',
  'The warranty does not cover damage caused by misuse, accident or unauthorised repair.',
] as const;

export const LANGUAGES = ['en', 'ja', 'el', 'ar', 'es', 'de'] as const;

/** Utterances per language; `en` mixes in emoji (flag, ZWJ family, skin tone). */
export const UTTERANCES: Record<(typeof LANGUAGES)[number], readonly string[]> = {
  en: [
    'Welcome back to the show, everyone 👋', 'Let me share my screen real quick.',
    'That launch went really well 🚀🎉', 'Can you hear me now?', 'We shipped it to 🇯🇵 and 🇬🇷 last week.',
    'The whole team 👨‍👩‍👧‍👦 joined the offsite.', 'Thumbs up from me 👍🏽',
  ],
  ja: ['皆さん、こんにちは。', '今日は新製品についてお話しします。', 'ご質問があればどうぞ。', '東京のオフィスから参加しています🗼'],
  el: ['Καλημέρα σε όλους.', 'Ας ξεκινήσουμε με τα αποτελέσματα του τριμήνου.', 'Ευχαριστώ πολύ για τον χρόνο σας.'],
  ar: ['مرحبا بكم جميعا.', 'سنناقش اليوم خطة الربع القادم.', 'شكرا جزيلا على المشاركة.'],
  es: ['Buenos días a todos.', '¿Podéis ver mi pantalla?', 'Gracias por venir, ¡nos vemos pronto!'],
  de: ['Guten Morgen zusammen.', 'Können wir mit der Agenda anfangen?', 'Vielen Dank für Ihre Geduld.'],
};

export const SPEAKER_NAMES = ['Aiko Tanaka', 'Nikos Papadopoulos', 'Layla Haddad', 'Sam Rivera', 'Jonas Weber', 'Priya Shah'] as const;
