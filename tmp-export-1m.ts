import { startDevServer } from './src/devserver/index.js';
import { runCli, exportEnv } from './test/support/harness.js';
const server = await startDevServer({ documentsPerCollection: 1_000_000, seed: 1 });
const r = await runCli(['export', '--collection', 'col_video_frames', '--dest', '/tmp/recobs-1m', '--safety-lag-seconds', '0', '--requests-per-minute', '0', '--reconcile-every-hours', '0'], exportEnv(server.url));
console.log(r.code, r.stdout);
await server.close();
