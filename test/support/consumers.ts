/**
 * Consumer simulation: ingest a destination's staged data folder the way Snowflake COPY INTO
 * and Databricks Auto Loader do (reference/consumers-and-peers.md §A1–A2), into DuckDB
 * tables, so a test can check what a downstream table ends up holding, not only what the
 * bucket holds.
 *
 * - COPY INTO: lists the stage (`<collection>/data/`) in name order, with docs/snowflake.md's
 *   `PATTERN = '.*part-.*[.](parquet|json...)'`, and keeps a load history keyed by file name
 *   and ETag: a known name with an unchanged ETag is skipped, a known name with a changed
 *   ETag is loaded again (what Snowflake does; an exporter that overwrote files would double rows).
 * - Auto Loader: directory listing; paths with a segment starting `_` or `.` are hidden
 *   (Spark's rule, except `k=v` segments); each path is processed once, ever
 *   (`allowOverwrites=false`); a seen path whose ETag changed is recorded as overwritten.
 * - Both download only data files that were listed, straight from the store (never through
 *   a fault proxy), into a temp folder, then load them with DuckDB.
 * - `latest` is the view a consumer builds on top, applying tombstones as docs/ddl.md says: per
 *   document_id the newest row by (updated_at, _exported_at) (a tie goes to the later file),
 *   left out when that row is a tombstone (`_deleted`). `liveSet` is the same rule on rows in
 *   memory, for a test to hold against what the DuckDB view says.
 * - Rows of files staged before tombstones existed have no `_deleted` column: read as false.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, createWriteStream, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { ContainerClient } from '@azure/storage-blob';
import { canonicalTimestamp } from '../../src/rows/time.js';
import { containerClient } from './emulators/azurite.js';
import { s3TestClient } from './emulators/s3.js';
import { query } from './harness.js';

/** One object as a listing shows it. `etag` changes when the object is rewritten. */
export interface StagedObject {
  key: string;
  size: number;
  etag: string;
}

/** Read-only access to a destination, straight at the store. Keys are relative to the destination root. */
export interface StagedStore {
  /** Objects under `prefix`, in key order. */
  list(prefix: string): Promise<StagedObject[]>;
  /** Copies one object to a local file (parent folders are created). */
  download(key: string, target: string): Promise<void>;
  close(): void;
}

export function fsStore(root: string): StagedStore {
  return {
    async list(prefix) {
      const out: StagedObject[] = [];
      const walk = (dir: string, rel: string) => {
        let names: string[];
        try {
          names = readdirSync(dir);
        } catch {
          return;
        }
        for (const name of names) {
          const full = path.join(dir, name);
          const info = statSync(full);
          if (info.isDirectory()) walk(full, `${rel}${name}/`);
          else out.push({ key: `${rel}${name}`, size: info.size, etag: `${info.size}-${info.mtimeMs}-${info.ino}` });
        }
      };
      walk(path.join(root, ...prefix.split('/').filter(Boolean)), prefix.endsWith('/') ? prefix : `${prefix}/`);
      return out.sort((a, b) => (a.key < b.key ? -1 : 1));
    },
    async download(key, target) {
      mkdirSync(path.dirname(target), { recursive: true });
      copyFileSync(path.join(root, ...key.split('/')), target);
    },
    close() {},
  };
}

/** A bucket on the S3 emulator; `prefix` is the destination's key prefix (no slashes at the ends). */
export function s3Store(endpoint: string, bucket: string, prefix: string): StagedStore {
  const client: S3Client = s3TestClient(endpoint);
  const base = prefix ? `${prefix}/` : '';
  return {
    async list(listPrefix) {
      const out: StagedObject[] = [];
      let token: string | undefined;
      do {
        const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: base + listPrefix, ContinuationToken: token }));
        for (const o of page.Contents ?? []) out.push({ key: (o.Key ?? '').slice(base.length), size: o.Size ?? 0, etag: o.ETag ?? '' });
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      return out;
    },
    async download(key, target) {
      mkdirSync(path.dirname(target), { recursive: true });
      const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: base + key }));
      await pipeline(res.Body as Readable, createWriteStream(target));
    },
    close: () => client.destroy(),
  };
}

/** A container on Azurite, through the emulator's own connection string. */
export function azureStore(connectionString: string, container: string, prefix: string): StagedStore {
  const client: ContainerClient = containerClient(connectionString, container);
  const base = prefix ? `${prefix}/` : '';
  return {
    async list(listPrefix) {
      const out: StagedObject[] = [];
      for await (const b of client.listBlobsFlat({ prefix: base + listPrefix })) {
        out.push({ key: b.name.slice(base.length), size: b.properties.contentLength ?? 0, etag: b.properties.etag ?? '' });
      }
      return out;
    },
    async download(key, target) {
      mkdirSync(path.dirname(target), { recursive: true });
      await client.getBlockBlobClient(base + key).downloadToFile(target);
    },
    close() {},
  };
}

export type ConsumerMode = 'copy-into' | 'auto-loader';

/** What a consumer did with one file. */
export interface FileLoad {
  key: string;
  /** ETag when first loaded. */
  etag: string;
  sha256: string;
  rows: number;
  /** How many times its rows were loaded (must be 1). */
  loads: number;
  /** Seen again later with another ETag (a rewrite). */
  changed: boolean;
  pass: number;
}

/** Data file names docs/snowflake.md's PATTERN accepts. */
const COPY_PATTERN = /part-.*[.](parquet|json|json\.gz|json\.zst)$/;

/** Spark's file index hides any path segment starting with `_` or `.`, unless it holds `=`. */
const sparkHidden = (relative: string) => relative.split('/').some((seg) => (seg.startsWith('_') || seg.startsWith('.')) && !seg.includes('='));

/**
 * One consumer of one collection: a DuckDB table `<table>(document_id, updated_at, _file)`,
 * a view `<table>_latest`, and its load history. Passes must not overlap.
 */
export class Consumer {
  readonly files = new Map<string, FileLoad>();
  passes = 0;
  private ready: Promise<unknown> | null = null;

  constructor(
    private readonly store: StagedStore,
    private readonly collectionId: string,
    readonly mode: ConsumerMode,
    readonly table: string,
    private readonly workDir: string,
  ) {}

  /** Lists the data folder and loads what this consumer has not loaded yet. Returns the files loaded. */
  async pass(): Promise<string[]> {
    await (this.ready ??= this.createTable());
    const pass = ++this.passes;
    const dataPrefix = `${this.collectionId}/data/`;
    const listed = (await this.store.list(dataPrefix))
      .filter((o) => this.accepts(o.key.slice(dataPrefix.length)))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const loaded: string[] = [];
    for (const object of listed) {
      const seen = this.files.get(object.key);
      if (seen && seen.etag !== object.etag) seen.changed = true;
      // COPY INTO reloads a name whose ETag changed; Auto Loader never looks at a seen path again.
      if (seen && (this.mode === 'auto-loader' || seen.etag === object.etag)) continue;
      const local = path.join(this.workDir, this.table, `pass-${pass}`, ...object.key.split('/'));
      await this.store.download(object.key, local);
      const rows = await insertFile(this.table, local, object.key);
      const sha256 = createHash('sha256').update(readFileSync(local)).digest('hex');
      if (seen) Object.assign(seen, { loads: seen.loads + 1, etag: object.etag, sha256, rows });
      else this.files.set(object.key, { key: object.key, etag: object.etag, sha256, rows, loads: 1, changed: false, pass });
      loaded.push(object.key);
    }
    return loaded;
  }

  /** (document_id, updated_at) of every document version loaded (tombstones left out), updated_at canonical. */
  async rows(): Promise<Version[]> {
    await (this.ready ??= this.createTable());
    return (await query(`SELECT document_id, updated_at FROM ${this.table} WHERE NOT _deleted`)) as unknown as Version[];
  }

  /** (document_id, updated_at = when the deletion was observed) of every tombstone loaded. */
  async tombstones(): Promise<Version[]> {
    await (this.ready ??= this.createTable());
    return (await query(`SELECT document_id, updated_at FROM ${this.table} WHERE _deleted`)) as unknown as Version[];
  }

  /** Every row loaded, tombstones included, in load order. */
  async allRows(): Promise<StagedRow[]> {
    await (this.ready ??= this.createTable());
    return (await query(`SELECT document_id, updated_at, _exported_at, _deleted FROM ${this.table}`)) as unknown as StagedRow[];
  }

  /** The consumer's view of the live documents: the newest row per document, unless it is a tombstone. */
  async latest(): Promise<Version[]> {
    await (this.ready ??= this.createTable());
    return (await query(`SELECT document_id, updated_at FROM ${this.table}_latest`)) as unknown as Version[];
  }

  private accepts(relative: string): boolean {
    return this.mode === 'copy-into' ? COPY_PATTERN.test(relative) : !sparkHidden(relative);
  }

  private async createTable(): Promise<void> {
    await query(`CREATE TABLE ${this.table} (document_id VARCHAR, updated_at VARCHAR, _exported_at VARCHAR, _deleted BOOLEAN, _file VARCHAR)`);
    // Canonical timestamps (fixed-width, UTC, micros) sort in time order as strings. The
    // tombstone filter runs after the newest row is chosen, never before.
    await query(`CREATE VIEW ${this.table}_latest AS SELECT document_id, updated_at, _file FROM (
      SELECT *, row_number() OVER (PARTITION BY document_id ORDER BY updated_at DESC, _exported_at DESC, _file DESC) AS rn FROM ${this.table}) WHERE rn = 1 AND NOT _deleted`);
  }
}

export interface Version {
  document_id: string;
  updated_at: string;
}

/** One staged row as the consumers see it: a version (`_deleted` false) or a tombstone. Times canonical. */
export interface StagedRow extends Version {
  _exported_at: string;
  _deleted: boolean;
}

/**
 * The live documents, as a consumer that applies tombstones holds them: per document_id the row
 * with the greatest (updated_at, _exported_at) (a full tie: the later row in `rows`, i.e. the
 * later file), dropped when it is a tombstone. Sorted by document_id. In memory: for tests.
 */
export function liveSet(rows: Iterable<StagedRow>): Version[] {
  const newest = new Map<string, StagedRow>();
  for (const row of rows) {
    const held = newest.get(row.document_id);
    if (!held || compareRows(row, held) >= 0) newest.set(row.document_id, row);
  }
  return [...newest.values()]
    .filter((row) => !row._deleted)
    .map(({ document_id, updated_at }) => ({ document_id, updated_at }))
    .sort((a, b) => (a.document_id < b.document_id ? -1 : a.document_id > b.document_id ? 1 : 0));
}

/** Order of two rows of one document by (updated_at, _exported_at); canonical times compare as strings. */
function compareRows(a: StagedRow, b: StagedRow): number {
  const at = (x: StagedRow) => canonicalTimestamp(x.updated_at) ?? x.updated_at;
  const ex = (x: StagedRow) => canonicalTimestamp(x._exported_at) ?? x._exported_at;
  if (at(a) !== at(b)) return at(a) < at(b) ? -1 : 1;
  if (ex(a) !== ex(b)) return ex(a) < ex(b) ? -1 : 1;
  return 0;
}

const sqlString = (text: string) => `'${text.replaceAll("'", "''")}'`;

const CANONICAL = `'%Y-%m-%dT%H:%M:%S.%fZ'`;

/**
 * `SELECT document_id, updated_at, _exported_at, _deleted` of one local data file, by its
 * extension: every row, tombstones included; times canonical UTC micros; `_deleted` false for
 * a file staged before tombstones existed (it has no such column).
 */
export function fileRowsSql(file: string): string {
  const at = sqlString(file);
  const utc = (column: string, from = column) => `strftime(${from} AT TIME ZONE 'UTC', ${CANONICAL}) AS ${column}`;
  if (file.endsWith('.parquet')) {
    // UNION BY NAME with a typed empty row adds `_deleted` (NULL) to a file that has none.
    return `SELECT document_id, ${utc('updated_at')}, ${utc('_exported_at')}, coalesce(_deleted, false) AS _deleted
      FROM (SELECT * FROM read_parquet(${at}) UNION ALL BY NAME SELECT NULL::BOOLEAN AS _deleted WHERE false)`;
  }
  if (/\.json(\.gz|\.zst)?$/.test(file)) {
    return `SELECT document_id, ${utc('updated_at', 'CAST(updated_at AS TIMESTAMPTZ)')}, ${utc('_exported_at', 'CAST(_exported_at AS TIMESTAMPTZ)')}, coalesce(_deleted, false) AS _deleted
      FROM read_json(${at}, format='newline_delimited', columns={document_id:'VARCHAR', updated_at:'VARCHAR', _exported_at:'VARCHAR', _deleted:'BOOLEAN'})`;
  }
  throw new Error(`not a data file: ${file}`);
}

/** `SELECT document_id, updated_at` of the document versions (tombstones left out) of one local data file. */
export function fileVersionsSql(file: string): string {
  return `SELECT document_id, updated_at FROM (${fileRowsSql(file)}) WHERE NOT _deleted`;
}

/** Loads one file's rows (versions and tombstones) into `table`; returns how many. */
async function insertFile(table: string, file: string, key: string): Promise<number> {
  const [result] = await query(`INSERT INTO ${table} SELECT document_id, updated_at, _exported_at, _deleted, ${sqlString(key)} FROM (${fileRowsSql(file)})`);
  return Number(Object.values(result ?? {})[0] ?? 0);
}

/** Counts the rows of one local data file, tombstones included (what a manifest's `rows` counts). */
export async function countRows(file: string): Promise<number> {
  const [row] = await query(`SELECT count(*) AS n FROM (${fileRowsSql(file)})`);
  return Number(row?.n ?? 0);
}

/** Everything the source ever listed: its current versions and the ones mutations replaced. */
export interface SourceTruth {
  /** document_id → current canonical updated_at. */
  current: Map<string, string>;
  /** `id@updated_at` of every version ever listed (current and superseded). */
  known: Set<string>;
}

const versionKey = (id: string, updatedAt: string) => `${id}@${canonicalTimestamp(updatedAt) ?? updatedAt}`;

export function sourceTruth(current: Iterable<Version>, superseded: Iterable<Version>): SourceTruth {
  const truth: SourceTruth = { current: new Map(), known: new Set() };
  for (const v of current) {
    truth.current.set(v.document_id, canonicalTimestamp(v.updated_at) ?? v.updated_at);
    truth.known.add(versionKey(v.document_id, v.updated_at));
  }
  for (const v of superseded) truth.known.add(versionKey(v.document_id, v.updated_at));
  return truth;
}

/** How staged (or loaded) rows compare with the source: each list holds `id@updated_at` keys. */
export interface VersionCheck {
  rows: number;
  /** Versions present more than once. */
  duplicates: string[];
  /** Current source versions not present. */
  missing: string[];
  /** Present versions the source never listed. */
  unknown: string[];
}

export function checkVersions(rows: Iterable<Version>, truth: SourceTruth): VersionCheck {
  const counts = new Map<string, number>();
  let n = 0;
  for (const r of rows) {
    const key = versionKey(r.document_id, r.updated_at);
    counts.set(key, (counts.get(key) ?? 0) + 1);
    n++;
  }
  const missing = [...truth.current].map(([id, at]) => versionKey(id, at)).filter((k) => !counts.has(k));
  return {
    rows: n,
    duplicates: [...counts].filter(([, c]) => c > 1).map(([k]) => k),
    missing,
    unknown: [...counts.keys()].filter((k) => !truth.known.has(k)),
  };
}

/** Documents whose latest row (per the view) is not their current source version, as `id: got → want`. */
export function checkLatest(latest: Version[], truth: SourceTruth): string[] {
  const wrong: string[] = [];
  const seen = new Set<string>();
  for (const v of latest) {
    seen.add(v.document_id);
    const want = truth.current.get(v.document_id);
    const got = canonicalTimestamp(v.updated_at);
    if (want !== got) wrong.push(`${v.document_id}: ${got} → ${want ?? 'not in source'}`);
  }
  for (const id of truth.current.keys()) if (!seen.has(id)) wrong.push(`${id}: absent → ${truth.current.get(id)}`);
  return wrong;
}
