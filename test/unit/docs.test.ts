/**
 * The documentation keeps up with the code: docs/configuration.md is what the generator
 * makes of the settings schema today, every relative link (and `#anchor`) in the README,
 * docs/, the Dockerfile, the Kubernetes manifests, config/example.yaml and
 * localstack/README.md leads somewhere, and the README stays a short front page.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { renderConfigDoc } from '../../scripts/config-doc.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const read = (rel: string) => readFileSync(path.join(REPO, rel), 'utf8');

function filesUnder(dir: string, pattern: RegExp): string[] {
  return readdirSync(path.join(REPO, dir)).flatMap((name) => {
    const rel = path.join(dir, name);
    if (statSync(path.join(REPO, rel)).isDirectory()) return filesUnder(rel, pattern);
    return pattern.test(name) ? [rel] : [];
  });
}

const MARKDOWN = ['README.md', ...filesUnder('docs', /\.md$/), 'localstack/README.md'];
/** Files whose comments name repository paths; `#` starts a comment in all of them. */
const COMMENTED = ['Dockerfile', ...filesUnder('deploy', /\.ya?ml$/), 'config/example.yaml'];

/** Drops fenced code blocks and inline code, where `[x](y)` or `# x` is not markdown. */
function prose(markdown: string): string[] {
  let fenced = false;
  return markdown.split('\n').map((line) => {
    if (/^\s*```/.test(line)) {
      fenced = !fenced;
      return '';
    }
    return fenced ? '' : line.replace(/`[^`]*`/g, '');
  });
}

/** GitHub's heading anchors (github-slugger): lower case, punctuation dropped, each space a `-`, repeats numbered. */
function anchorsOf(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*```/.test(line)) fenced = !fenced;
    const heading = fenced ? null : /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!heading) continue;
    const base = heading[1]!.toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

interface Link {
  /** Where the link is written, `file:line`. */
  at: string;
  /** The file the link is resolved against. */
  from: string;
  target: string;
}

function markdownLinks(file: string): Link[] {
  return prose(read(file)).flatMap((line, i) =>
    [...line.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => ({ at: `${file}:${i + 1}`, from: file, target: m[1]! })),
  );
}

/**
 * Paths named in comments: a token with a `/` is read from the repository root
 * (`docs/scheduling.md#cron-on-a-host`, `deploy/k8s/`), a bare file name (`cronjob.yaml`)
 * from the commenting file's folder.
 */
function commentLinks(file: string): Link[] {
  // A rooted path ends in `/` or a file name with an extension, so `docs/s` (docs per second) is not one.
  const token = /(?<![\w/.:@<-])((?:docs|deploy|config|scripts|src|test|localstack|bin)\/(?:[\w.-]+\/)*(?:[\w-]+(?:\.\w+)+)?|[\w.-]+\.(?:md|ya?ml))(?![\w/])(#[\w-]+)?/g;
  return read(file)
    .split('\n')
    .flatMap((line, i) => {
      const comment = /(?:^|\s)#(?!\()(.*)$/.exec(line)?.[1] ?? '';
      return [...comment.matchAll(token)].map((m) => {
        const rel = m[1]!.replace(/[.,;:]+$/, '');
        const fromRoot = rel.includes('/');
        return { at: `${file}:${i + 1}`, from: fromRoot ? 'README.md' : file, target: rel + (m[2] ?? '') };
      });
    });
}

/** `null` when the link leads somewhere; otherwise what is missing. */
function brokenBecause(link: Link): string | null {
  if (/^[a-z][a-z0-9+.-]*:/i.test(link.target)) return null; // https:, mailto: and the like
  const [pathPart, anchor] = link.target.split('#') as [string, string | undefined];
  const file = pathPart ? path.normalize(path.join(path.dirname(link.from), decodeURIComponent(pathPart))) : link.from;
  if (!existsSync(path.join(REPO, file))) return `${file} does not exist`;
  if (anchor === undefined || !file.endsWith('.md')) return null;
  return anchorsOf(read(file)).has(anchor) ? null : `${file} has no heading with the anchor #${anchor}`;
}

describe('docs/configuration.md', () => {
  it('is what scripts/config-doc.ts makes of the settings schema today', () => {
    const committed = existsSync(path.join(REPO, 'docs/configuration.md')) ? read('docs/configuration.md') : '(missing)';
    expect(committed, 'docs/configuration.md is stale: run `npm run docs:config` and commit the result').toBe(renderConfigDoc());
  });

  it('has one row per setting, secrets marked as environment only', () => {
    const doc = renderConfigDoc();
    expect(doc).toMatch(/^\| `apiKey` \| none \(secret: environment only\) \| `MIXPEEK_API_KEY` \|/m);
    expect(doc).toMatch(/^\| `collections` \| `--collection` \(repeatable\) \| `MIXPEEK_EXPORT_COLLECTIONS` \|/m);
    expect(doc).toMatch(/^\| `format` \| `--format` \| {2}\| `parquet` \\\| `ndjson` \| `parquet` \|/m);
  });
});

describe('links in the README, docs/ and the deployment files', () => {
  const links = [...MARKDOWN.flatMap(markdownLinks), ...COMMENTED.flatMap(commentLinks)];

  it('are found in every file that is checked', () => {
    for (const file of ['README.md', 'Dockerfile', 'config/example.yaml', 'deploy/k8s/cronjob.yaml']) {
      expect(links.some((l) => l.at.startsWith(`${file}:`)), `no links found in ${file}; is the scanner broken?`).toBe(true);
    }
  });

  it('each lead to a file that exists and, with an #anchor, to a heading in it', () => {
    const broken = links.flatMap((link) => {
      const why = brokenBecause(link);
      return why ? [`${link.at}: ${link.target}: ${why}`] : [];
    });
    expect(broken, 'fix these links (or the headings they point at)').toEqual([]);
  });
});

describe('README.md', () => {
  it('is at most 250 lines; longer text belongs in docs/', () => {
    const lines = read('README.md').replace(/\n$/, '').split('\n').length;
    expect(lines, `README.md has ${lines} lines; move sections to docs/ and link them`).toBeLessThanOrEqual(250);
  });
});
