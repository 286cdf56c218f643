import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { exportEnv, runCli } from '../support/harness.js';

const COL = 'col_corrupt';
// Nothing listens here: the checkpoint is refused before any API request, and a test that reached the API would fail on it.
const UNUSED_API = 'http://127.0.0.1:9';

/** A checkpoint as the exporter writes it mid-run, then edited by `edit`. */
function checkpointText(edit: (cp: any) => void): string {
  const cp = {
    version: 1, collectionId: COL, lastHi: null, history: [],
    active: {
      runId: '20261101T010000Z-abcd', startedAt: '2026-11-01T01:00:00.000000Z', window: { lo: null, hi: '2026-11-01T01:00:00.000000Z' }, format: 'parquet', compression: 'zstd',
      vectors: false, nextSeq: 0, position: null, files: [], pending: null, rejected: 0, untyped: 0,
    },
  };
  edit(cp);
  return JSON.stringify(cp, null, 1);
}

function destinationWith(body: string): { dest: string; file: string } {
  const dest = mkdtempSync(path.join(tmpdir(), 'mixpeek-corrupt-'));
  const file = path.join(dest, COL, '_state', 'checkpoint.json');
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, body);
  return { dest, file };
}

describe('a corrupt or hand-edited checkpoint, through the real CLI', () => {
  const cases: [string, string, RegExp][] = [
    ['a negative nextSeq', checkpointText((cp) => (cp.active.nextSeq = -1)), /is not a valid checkpoint: active\.nextSeq: Too small: expected number to be >=0/],
    ['a missing field', checkpointText((cp) => delete cp.active.window), /is not a valid checkpoint: active\.window: missing \(expected object\)/],
    ['bad JSON', '{"version":1,"collectionId":', /is not valid JSON \(/],
  ];
  for (const [what, body, field] of cases) {
    it(`refuses ${what} with exit 6, names the object, the field and the fix, and leaves its bytes as they were`, async () => {
      const { dest, file } = destinationWith(body);
      const before = readFileSync(file);
      const result = await runCli(['export', '--collection', COL, '--dest', dest], exportEnv(UNUSED_API));
      expect(result.code, result.stderr.slice(-1500)).toBe(6);
      const url = pathToFileURL(file).href;
      expect(result.stdout).toContain(`export failed (exit 6): [checkpoint] ${url} `);
      expect(result.stdout).toMatch(field);
      expect(result.stdout).toMatch(/restore it from a backup, or move it aside to export again from the beginning; the exporter never overwrites it/);
      expect(result.stderr).toMatch(/"event":"RunFailed","error_type":"ERR_STATE_CORRUPT"/);
      expect(result.stderr).not.toMatch(/PageFetched|RunStarted|RunResumed/);
      expect(readFileSync(file)).toEqual(before);
      expect(existsSync(path.join(dest, COL, '_state', 'lease.json'))).toBe(false); // released
    });
  }

  it('is refused by status with exit 6 and reported by verify as a problem (exit 6), both reading only', async () => {
    const { dest, file } = destinationWith(checkpointText((cp) => (cp.lastHi = 'yesterday')));
    const before = readFileSync(file);
    const status = await runCli(['status', '--collection', COL, '--dest', dest]);
    expect(status.code, status.stderr).toBe(6);
    expect(status.stderr).toMatch(/is not a valid checkpoint: lastHi: expected a canonical UTC timestamp/);
    const verify = await runCli(['verify', '--collection', COL, '--dest', dest]);
    expect(verify.code, verify.stderr).toBe(6);
    expect(verify.stdout).toContain(`PROBLEM checkpoint: ${pathToFileURL(file).href} is not a valid checkpoint: lastHi: `);
    expect(readFileSync(file)).toEqual(before);
  });
});
