// Ad-hoc: the same 31 files read one row group at a time (readParquet's `columns` is ignored by parquet-wasm 0.8; `rowGroups` is not).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { readParquetFooter } from './src/encode/footer.js';
const parquet = await import('parquet-wasm');
const arrow = await import('apache-arrow');
const files: string[] = [];
const walk = (d: string) => { for (const n of readdirSync(d)) { const p = path.join(d, n); if (statSync(p).isDirectory()) walk(p); else if (p.endsWith('.parquet')) files.push(p); } };
walk(process.argv[2]!);
let rows = 0;
for (const f of files.sort()) {
  const bytes = new Uint8Array(readFileSync(f));
  const footer = readParquetFooter(bytes);
  for (let g = 0; g < footer.rowGroups.length; g++) {
    const t = arrow.tableFromIPC(parquet.readParquet(bytes, { rowGroups: [g] }).intoIPCStream());
    const ids = t.getChild('document_id');
    for (let i = 0; i < t.numRows; i++) if (ids?.get(i)) rows++;
  }
}
console.log(`${files.length} files, ${rows} rows read a row group at a time: rss ${Math.round(process.memoryUsage.rss() / 2 ** 20)} MB, peak ${Math.round(process.resourceUsage().maxRSS / 1024)} MB, external ${Math.round(process.memoryUsage().external / 2 ** 20)} MB`);
