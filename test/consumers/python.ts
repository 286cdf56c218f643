/**
 * The consumer tier's bridge to Python: the engines (Spark + Delta, fakesnow) run in the
 * virtual environment scripts/consumers/setup.sh installs; each script reads one JSON object
 * on stdin and prints one JSON object as its last stdout line.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { REPO } from '../support/harness.js';

export const VENV_PYTHON = path.join(REPO, '.venv-consumers', 'bin', 'python');

/** Why the tier cannot run here (null: it can): the environment is set up by `npm run test:consumers`. */
export const notReady: string | null = existsSync(VENV_PYTHON) ? null : `no Python environment at ${VENV_PYTHON}: run npm run test:consumers (it installs one)`;

/** Runs `test/consumers/<script>` with `input` on stdin; resolves its last stdout line as JSON, rejects with its stderr's tail. */
export function runPython<T = Record<string, unknown>>(script: string, input: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(VENV_PYTHON, [path.join(REPO, 'test', 'consumers', script)], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, PYTHONUNBUFFERED: '1' } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0) return reject(new Error(`${script} exited ${code}: ${err.split('\n').slice(-25).join('\n')}`));
      try {
        resolve(JSON.parse(last) as T);
      } catch {
        reject(new Error(`${script} printed no JSON result: ${last.slice(0, 300)}`));
      }
    });
    child.stdin.end(JSON.stringify(input));
  });
}
