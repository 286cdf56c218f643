/**
 * The container and Kubernetes files, checked structurally (there is no Docker engine or
 * cluster in the test environment): every manifest under deploy/ parses, has the fields a
 * safe scheduled export needs, and its args and config are accepted by the CLI's own
 * settings loader; the Dockerfile follows the rules in its header.
 */
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { parseFlags } from '../../src/cli/flags.js';
import { ENV_VARS, loadServeSettings, loadSettings } from '../../src/config/load.js';
import { SECRET_KEYS } from '../../src/config/schema.js';
import { shardOf } from '../../src/run/window.js';
import { processBudget } from '../../src/run/export.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
type Doc = Record<string, any>;

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? yamlFiles(full) : /\.ya?ml$/.test(name) ? [full] : [];
  });
}

const manifests: { file: string; doc: Doc }[] = yamlFiles(path.join(REPO, 'deploy')).flatMap((file) =>
  parseAllDocuments(readFileSync(file, 'utf8')).map((d) => {
    if (d.errors.length) throw new Error(`${file}: ${d.errors[0]!.message}`);
    return { file: path.relative(REPO, file), doc: d.toJS() as Doc };
  }),
);
const byKind = (kind: string) => manifests.filter((m) => m.doc?.kind === kind).map((m) => m.doc);
const cronJob = byKind('CronJob')[0]!;
const job = byKind('Job')[0]!;
const configMap = byKind('ConfigMap')[0]!;
const workloads = [
  { name: 'CronJob', job: cronJob.spec.jobTemplate.spec as Doc },
  { name: 'Job', job: job.spec as Doc },
];
const podOf = (w: { job: Doc }) => w.job.template.spec as Doc;
const containerOf = (w: { job: Doc }) => podOf(w).containers[0] as Doc;

/** `1Gi`, `1536Mi`, `512M` in bytes. */
function bytes(quantity: string): number {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|K|M|G)?$/.exec(quantity)!;
  const unit = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, K: 1e3, M: 1e6, G: 1e9 }[m[2] as string] ?? 1;
  return Number(m[1]) * unit;
}

/** The container's args as the CLI sees them, with the ConfigMap's config.yaml in place of the mounted file. */
function settingsFromArgs(args: string[], substitutions: Record<string, string> = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'mxp-deploy-'));
  const config = path.join(dir, 'config.yaml');
  writeFileSync(config, configMap.data['config.yaml']);
  const expanded = args.map((a) => a.replace(/\$\((\w+)\)/g, (whole, name: string) => substitutions[name] ?? whole));
  expect(expanded[0]).toBe('export');
  const flags = parseFlags(expanded.slice(1).map((a) => (a === '/etc/mixpeek-export/config.yaml' ? config : a)));
  return loadSettings({ flags: flags.settings, env: { MIXPEEK_API_KEY: 'sk_placeholder' }, configFile: flags.config });
}

/** Environment names of secrets: the settings that are environment-only, and anything named like a credential. */
const SECRET_ENV = new Set(Object.entries(ENV_VARS).filter(([, key]) => SECRET_KEYS.includes(key)).map(([name]) => name));
const looksSecret = (name: string) => SECRET_ENV.has(name) || /KEY|SECRET|TOKEN|PASSWORD|CONNECTION_STRING|SAS/i.test(name);

describe('Kubernetes manifests (deploy/)', () => {
  it('parses every manifest under deploy/ as YAML, each with an apiVersion, a kind and a name', () => {
    expect(manifests.map((m) => m.doc.kind).sort()).toEqual(['ConfigMap', 'CronJob', 'Deployment', 'Job', 'Kustomization', 'Secret', 'Service', 'ServiceAccount']);
    for (const { file, doc } of manifests) {
      expect(doc.apiVersion, file).toEqual(expect.any(String));
      if (doc.kind !== 'Kustomization') expect(doc.metadata?.name, file).toEqual(expect.any(String));
    }
    const kustomization = byKind('Kustomization')[0]!;
    expect(kustomization.resources).toEqual(['serviceaccount.yaml', 'configmap.yaml', 'cronjob.yaml', 'serve.yaml']);
  });

  it('runs the CronJob one run at a time, with a starting deadline, a run deadline, retries and no restarts in place', () => {
    expect(cronJob.spec).toMatchObject({ concurrencyPolicy: 'Forbid', startingDeadlineSeconds: expect.any(Number), schedule: expect.any(String) });
    const spec = cronJob.spec.jobTemplate.spec;
    expect(spec.activeDeadlineSeconds).toBeGreaterThan(0);
    expect(spec.activeDeadlineSeconds).toBeLessThan(3600); // ends before the next hourly run
    expect(spec.backoffLimit).toBeGreaterThanOrEqual(1);
    for (const w of workloads) {
      expect(podOf(w).restartPolicy, w.name).toBe('Never');
      // Exit 2 (bad config) fails the Job at once; node drains do not count as failures.
      expect(w.job.podFailurePolicy.rules, w.name).toEqual(
        expect.arrayContaining([
          { action: 'FailJob', onExitCodes: { containerName: 'export', operator: 'In', values: [2] } },
          { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget' }] },
        ]),
      );
      // Long enough for SIGTERM to end the current commit and release the lease.
      expect(podOf(w).terminationGracePeriodSeconds, w.name).toBeGreaterThanOrEqual(60);
    }
  });

  it('sizes each pod from the benchmark: cpu and memory requests and limits, memory above the 985 MB peak RSS', () => {
    for (const w of workloads) {
      const { requests, limits } = containerOf(w).resources;
      expect(Object.keys(requests).sort(), w.name).toEqual(['cpu', 'memory']);
      expect(Object.keys(limits).sort(), w.name).toEqual(['cpu', 'memory']);
      expect(bytes(requests.memory), w.name).toBeGreaterThanOrEqual(985e6);
      expect(bytes(limits.memory), w.name).toBeGreaterThanOrEqual(bytes(requests.memory) * 1.25);
    }
  });

  it('takes secrets from the Secret by secretKeyRef, never as literal values; the Secret example holds placeholders only', () => {
    for (const w of workloads) {
      const env: Doc[] = containerOf(w).env;
      const apiKey = env.find((e) => e.name === 'MIXPEEK_API_KEY');
      expect(apiKey?.valueFrom?.secretKeyRef, w.name).toEqual({ name: 'mixpeek-export', key: 'MIXPEEK_API_KEY' });
      expect(env.find((e) => e.name === 'AZURE_STORAGE_CONNECTION_STRING')?.valueFrom?.secretKeyRef?.optional, w.name).toBe(true);
      for (const e of env.filter((x) => looksSecret(x.name))) {
        expect(e.value, `${w.name} ${e.name}`).toBeUndefined();
        expect(e.valueFrom?.secretKeyRef?.name, `${w.name} ${e.name}`).toBe('mixpeek-export');
      }
      expect(JSON.stringify(containerOf(w).args)).not.toMatch(/sk_|AccountKey=|sig=/);
    }
    const secret = byKind('Secret')[0]!;
    expect(secret.metadata.name).toBe('mixpeek-export');
    expect(secret.data).toBeUndefined();
    for (const [name, value] of Object.entries(secret.stringData as Record<string, string>)) expect(value, name).toMatch(/^REPLACE_ME/);
  });

  it('runs as a non-root user with a read-only root filesystem, /tmp an emptyDir and the config from the ConfigMap', () => {
    for (const w of workloads) {
      const pod = podOf(w);
      const container = containerOf(w);
      expect(pod.securityContext, w.name).toMatchObject({ runAsNonRoot: true, runAsUser: expect.any(Number), seccompProfile: { type: 'RuntimeDefault' } });
      expect(pod.securityContext.runAsUser, w.name).not.toBe(0);
      expect(container.securityContext, w.name).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
      const volumes = Object.fromEntries((pod.volumes as Doc[]).map((v) => [v.name, v]));
      const mounts = Object.fromEntries((container.volumeMounts as Doc[]).map((m) => [m.mountPath, m]));
      expect(volumes[mounts['/tmp']!.name]!.emptyDir, w.name).toBeDefined();
      const configMount = mounts['/etc/mixpeek-export']!;
      expect(configMount.readOnly, w.name).toBe(true);
      expect(volumes[configMount.name]!.configMap.name, w.name).toBe(configMap.metadata.name);
      const args: string[] = container.args;
      expect(args[args.indexOf('--config') + 1], w.name).toBe('/etc/mixpeek-export/config.yaml');
      expect(Object.keys(configMap.data)).toEqual(['config.yaml']);
      expect(pod.serviceAccountName, w.name).toBe(byKind('ServiceAccount')[0]!.metadata.name);
    }
  });

  it('gives the ServiceAccount an IRSA role annotation and notes for Azure workload identity', () => {
    const account = byKind('ServiceAccount')[0]!;
    expect(account.metadata.annotations['eks.amazonaws.com/role-arn']).toMatch(/^arn:aws:iam::\d{12}:role\//);
    const text = readFileSync(path.join(REPO, 'deploy/k8s/serviceaccount.yaml'), 'utf8');
    expect(text).toContain('azure.workload.identity/client-id');
    for (const file of ['cronjob.yaml', 'backfill-job.yaml']) expect(readFileSync(path.join(REPO, 'deploy/k8s', file), 'utf8')).toContain('azure.workload.identity/use: "true"');
  });

  it('accepts the CronJob\'s args and the ConfigMap\'s config with the CLI\'s own settings loader', () => {
    const settings = settingsFromArgs(containerOf(workloads[0]!).args);
    expect(settings).toMatchObject({ collections: expect.arrayContaining([expect.any(String)]), rowGroupRows: 10_000, pageSize: 1000 });
    expect(settings.since).toBeUndefined(); // scheduled runs start at the checkpoint
    expect(settings.shard).toBeUndefined();
  });

  it('runs the backfill as an Indexed Job whose completions equal the n of --shard, each index one slice of an absolute range', () => {
    expect(job.spec.completionMode).toBe('Indexed');
    const args: string[] = containerOf(workloads[1]!).args;
    const shardArg = args[args.indexOf('--shard') + 1]!;
    const [, n] = /^\$\(JOB_COMPLETION_INDEX\)\/(\d+)$/.exec(shardArg) ?? [];
    expect(Number(n)).toBe(job.spec.completions);
    expect(job.spec.parallelism).toBeLessThanOrEqual(job.spec.completions);
    const env: Doc[] = containerOf(workloads[1]!).env;
    expect(env.find((e) => e.name === 'JOB_COMPLETION_INDEX')?.valueFrom?.fieldRef?.fieldPath).toBe("metadata.annotations['batch.kubernetes.io/job-completion-index']");
    const slices = Array.from({ length: job.spec.completions as number }, (_, i) => shardOf(settingsFromArgs(args, { JOB_COMPLETION_INDEX: String(i) }))!);
    expect(slices.map((s) => s.index)).toEqual(slices.map((_, i) => i));
    expect(slices[0]!.lo).toBe(slices[0]!.since);
    expect(slices.at(-1)!.hi).toBe(slices[0]!.until);
    for (let i = 1; i < slices.length; i++) expect(slices[i]!.lo).toBe(slices[i - 1]!.hi);
    // parallelism x each shard's budget (1/n of requestsPerMinute) stays within the one-process default of 600 requests/minute
    const settings = settingsFromArgs(args, { JOB_COMPLETION_INDEX: '0' });
    expect(processBudget(settings) * job.spec.parallelism).toBeLessThanOrEqual(600);
    expect(processBudget(settings)).toBe(Math.floor(settings.requestsPerMinute / (job.spec.completions as number)));
  });
});

describe('serve (deploy/k8s/serve.yaml)', () => {
  const deployment = byKind('Deployment')[0]!;
  const service = byKind('Service')[0]!;
  const pod = deployment.spec.template.spec as Doc;
  const container = pod.containers[0] as Doc;
  const config = () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'mxp-deploy-')), 'config.yaml');
    writeFileSync(file, configMap.data['config.yaml']);
    const args = (container.args as string[]).map((a) => (a === '/etc/mixpeek-export/config.yaml' ? file : a));
    expect(args[0]).toBe('serve');
    const flags = parseFlags(args.slice(1), 'serve');
    return loadServeSettings({ flags: flags.settings, env: { MIXPEEK_API_KEY: 'sk_placeholder', MIXPEEK_INBOUND_WEBHOOK_SECRET: 'placeholder-secret-0123456789' }, configFile: flags.config });
  };

  it('runs one replica, recreated on rollout, whose args and the ConfigMap load with the CLI\'s serve settings loader', () => {
    expect(deployment.spec.replicas).toBe(1);
    expect(deployment.spec.strategy).toEqual({ type: 'Recreate' });
    expect(deployment.spec.selector.matchLabels).toEqual(deployment.spec.template.metadata.labels);
    const settings = config();
    expect(container.ports).toEqual([{ name: 'http', containerPort: settings.port }]);
    expect(settings.interval).not.toBe('0'); // the timer is the safety net for a missed webhook
  });

  it('probes /healthz for liveness and /readyz for readiness, and gives SIGTERM longer than the shutdown timeout', () => {
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(config().shutdownTimeoutSeconds);
  });

  it('takes the inbound secret and every other secret from the Secret by secretKeyRef, as the CronJob does', () => {
    const env: Doc[] = container.env;
    expect(env.find((e) => e.name === 'MIXPEEK_INBOUND_WEBHOOK_SECRET')?.valueFrom?.secretKeyRef).toEqual({ name: 'mixpeek-export', key: 'MIXPEEK_INBOUND_WEBHOOK_SECRET' });
    expect(env.find((e) => e.name === 'MIXPEEK_API_KEY')?.valueFrom?.secretKeyRef).toEqual({ name: 'mixpeek-export', key: 'MIXPEEK_API_KEY' });
    for (const e of env.filter((x) => looksSecret(x.name))) {
      expect(e.value, e.name).toBeUndefined();
      expect(e.valueFrom?.secretKeyRef?.name, e.name).toBe('mixpeek-export');
    }
    expect(byKind('Secret')[0]!.stringData.MIXPEEK_INBOUND_WEBHOOK_SECRET).toMatch(/^REPLACE_ME/);
  });

  it('has the CronJob\'s security context, volumes, service account and resources', () => {
    const cronPod = podOf(workloads[0]!);
    const cronContainer = containerOf(workloads[0]!);
    expect(pod.securityContext).toEqual(cronPod.securityContext);
    expect(container.securityContext).toEqual(cronContainer.securityContext);
    expect(pod.volumes).toEqual(cronPod.volumes);
    expect(container.volumeMounts).toEqual(cronContainer.volumeMounts);
    expect(pod.serviceAccountName).toBe(cronPod.serviceAccountName);
    expect(container.resources).toEqual(cronContainer.resources);
  });

  it('exposes the pod through a Service that selects it and targets its http port', () => {
    expect(service.spec.selector).toEqual(deployment.spec.template.metadata.labels);
    expect(service.spec.ports).toEqual([expect.objectContaining({ targetPort: 'http' })]);
  });
});

/** Dockerfile instructions: comments dropped, `\` continuations joined. */
function dockerfile(): { op: string; args: string }[] {
  const text = readFileSync(path.join(REPO, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const [op, ...rest] = l.split(/\s+/);
      return { op: op!.toUpperCase(), args: rest.join(' ') };
    });
}

describe('Dockerfile (linted; not built here: no Docker engine)', () => {
  const lines = dockerfile();
  const froms = lines.map((l, i) => ({ ...l, i })).filter((l) => l.op === 'FROM');
  const stages = froms.map((from, k) => lines.slice(from.i, froms[k + 1]?.i ?? lines.length));
  const [build, runtime] = [stages[0]!, stages.at(-1)!];
  const runs = (stage: typeof lines) => stage.filter((l) => l.op === 'RUN').map((l) => l.args);

  it('builds in two stages, each FROM a pinned Node LTS slim image that package.json\'s engines allow', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const engines = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')).engines.node as string;
    const minMajor = Number(/>=\s*(\d+)/.exec(engines)![1]);
    for (const from of froms) {
      const m = /^node:(\d+)\.(\d+)\.(\d+)-[a-z]+-slim(@sha256:[0-9a-f]{64})?\s+AS\s+\w+$/i.exec(from.args);
      expect(m, from.args).not.toBeNull();
      expect(Number(m![1]) % 2, `${from.args}: an even major is an LTS line`).toBe(0);
      expect(Number(m![1])).toBeGreaterThanOrEqual(minMajor);
    }
    expect(new Set(froms.map((f) => f.args.split(/\s+/)[0])).size).toBe(1); // one Node for build and run
    expect(runs(build).join('\n')).toMatch(/npm ci\b/);
    expect(runs(build).join('\n')).toMatch(/npm run build\b/);
  });

  it('installs only production dependencies in the runtime stage, without running the prepare build, and copies dist/ from the build', () => {
    const install = runs(runtime).find((r) => /npm ci\b/.test(r));
    expect(install).toMatch(/--omit=dev/);
    expect(install).toMatch(/--ignore-scripts/);
    expect(runtime.some((l) => l.op === 'COPY' && /^--from=\w+\s+\/app\/dist\s/.test(l.args))).toBe(true);
    expect(runtime.some((l) => l.op === 'COPY' && /^\.\s/.test(l.args))).toBe(false); // never the whole context
  });

  it('runs as a numeric non-root user with the CLI as entrypoint, NODE_ENV=production and no secret in ENV or ARG', () => {
    const user = runtime.filter((l) => l.op === 'USER').at(-1)?.args ?? 'root';
    expect(user).toMatch(/^[1-9]\d*(:\d+)?$/);
    const entrypoint = JSON.parse(runtime.find((l) => l.op === 'ENTRYPOINT')!.args) as string[];
    expect(entrypoint.join(' ')).toMatch(/mixpeek-export/);
    expect(runtime.some((l) => l.op === 'ENV' && /NODE_ENV=production/.test(l.args))).toBe(true);
    for (const l of lines.filter((x) => x.op === 'ENV' || x.op === 'ARG')) expect(l.args, `${l.op} ${l.args}`).not.toMatch(/KEY|SECRET|TOKEN|PASSWORD|CONNECTION_STRING/i);
  });

  it('keeps dependencies, build output, staging, git, tests and env files out of the build context', () => {
    const ignored = readFileSync(path.join(REPO, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
    for (const entry of ['node_modules', 'dist', 'staging', '.git', 'test', 'coverage', '.env', '*.env', '**/*.env']) expect(ignored, entry).toContain(entry);
  });
});
