import type { TestProject } from 'vitest/node';
import { startAzurite } from './emulators/azurite.js';
import { startS3rver } from './emulators/s3.js';

declare module 'vitest' {
  export interface ProvidedContext {
    s3Endpoint: string;
    azuriteAccountUrl: string;
    azuriteConnectionString: string;
  }
}

/**
 * Starts the storage emulators once for the integration tier, on free ports, and stops
 * them by PID afterwards: s3rver behind the s3rver-plus shim, and Azurite (blob only).
 */
export default async function setup(project: TestProject) {
  const [s3, azurite] = await Promise.all([startS3rver(), startAzurite()]);
  project.provide('s3Endpoint', s3.endpoint);
  project.provide('azuriteAccountUrl', azurite.accountUrl);
  project.provide('azuriteConnectionString', azurite.connectionString);
  return async () => {
    await Promise.all([s3.stop(), azurite.stop()]);
  };
}
