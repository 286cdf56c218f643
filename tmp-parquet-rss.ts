// Ad-hoc: RSS after reading each staged Parquet file with the reconciliation's reader (not committed).
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileRecords } from './src/reconcile/staged.js';
import { openDestination } from './src/storage/index.js';
const root = process.argv[2]!;
const col = 'col_video_frames';
const driver = await openDestination(root, {});
const files: string[] = [];
const walk = (d: string) => { for (const n of readdirSync(d)) { const p = path.join(d, n); if (statSync(p).isDirectory()) walk(p); else if (p.endsWith('.parquet')) files.push(p); } };
walk(path.join(root, col, 'data'));
let i = 0;
for (const f of files.sort()) {
  let n = 0;
  for await (const _ of fileRecords(driver, { key: path.relative(root, f), columns: ['document_id', 'updated_at', '_exported_at', '_deleted'] })) n++;
  if (i++ % 5 === 0 || i === files.length) console.log(`${i} files, ${n} rows, ${(statSync(f).size / 1e6).toFixed(1)} MB: rss ${Math.round(process.memoryUsage.rss() / 2 ** 20)} MB, heap ${Math.round(process.memoryUsage().heapUsed / 2 ** 20)} MB, external ${Math.round(process.memoryUsage().external / 2 ** 20)} MB, arrayBuffers ${Math.round(process.memoryUsage().arrayBuffers / 2 ** 20)} MB`);
}
