import { defineConfig } from 'vitest/config';

// Tiers by suffix (STYLE.md item 11): *.test.ts are unit tests (no network),
// *.integ.test.ts talk to the dev server and the storage emulators (started once by
// globalSetup) and read results back with DuckDB; *.cloud.test.ts use real endpoints
// named by the environment and skip (saying which variables) otherwise.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/*.integ.test.ts', 'test/**/*.cloud.test.ts', 'node_modules/**'],
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
          name: 'cloud',
          include: ['test/**/*.cloud.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
