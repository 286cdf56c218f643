import { defineConfig } from 'vitest/config';

// Tiers by suffix (STYLE.md item 11): *.test.ts are unit tests (no network),
// *.integ.test.ts talk to the dev server and the storage emulators (started once by
// globalSetup) and read results back with DuckDB; *.cloud.test.ts use real endpoints
// named by the environment and skip (saying which variables) otherwise. *.faults.test.ts are
// the full fault campaign (many minutes; `npm run test:faults`), kept out of `npm test`,
// whose integration tier runs a small fixed-seed campaign instead. *.consumers.test.ts run the
// staged files through real engines (`npm run test:consumers`), also kept out of `npm test`.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/*.integ.test.ts', 'test/**/*.cloud.test.ts', 'test/**/*.faults.test.ts', 'test/**/*.consumers.test.ts', 'node_modules/**'],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'integ',
          include: ['test/**/*.integ.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 60_000,
          pool: 'forks',
          globalSetup: ['test/support/global-setup.ts'],
        },
      },
      {
        test: {
          name: 'faults',
          include: ['test/faults/**/*.faults.test.ts'],
          // One test per destination; each runs its campaign for a few minutes.
          testTimeout: 900_000,
          hookTimeout: 60_000,
          pool: 'forks',
          globalSetup: ['test/support/global-setup.ts'],
        },
      },
      {
        test: {
          // Real engines on the staged files (Spark + Delta, fakesnow): `npm run test:consumers`,
          // which installs their Python environment first (scripts/consumers/setup.sh).
          name: 'consumers',
          include: ['test/consumers/**/*.consumers.test.ts'],
          testTimeout: 600_000,
          hookTimeout: 120_000,
          pool: 'forks',
          // One engine at a time: a Spark session takes both cores.
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'cloud',
          include: ['test/**/*.cloud.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
