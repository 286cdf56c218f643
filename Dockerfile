# syntax=docker/dockerfile:1
#
# mixpeek-export as a container for cron hosts and Kubernetes (see deploy/k8s/ and
# docs/scheduling.md). Two stages: `build` compiles src/ to dist/ with the dev tools;
# the runtime stage holds only production dependencies, dist/ and bin/.
#
#   docker build -t mixpeek-export:0.1.0 .
#   docker run --rm -e MIXPEEK_API_KEY -e MIXPEEK_NAMESPACE mixpeek-export:0.1.0 \
#     export --collection col_abc --dest s3://my-bucket/mixpeek
#
# Base: Node.js 26 "Lithium", the Active LTS line (LTS since October 2026, supported to
# April 2029), on Debian 13 "trixie" slim. The version is pinned so a rebuild is the same
# image; bump it deliberately (and pin the digest, `node:26.13.0-trixie-slim@sha256:...`,
# in your registry's build). package.json requires Node >= 20.19; any LTS line works.

FROM node:26.13.0-trixie-slim AS build
WORKDIR /app
# Dependencies first, so a source-only change reuses this layer. --ignore-scripts: `prepare`
# (the build) needs src/, which is copied below; the build runs explicitly after it.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:26.13.0-trixie-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
# Production dependencies only. --ignore-scripts: `prepare` would run tsc, which is a dev
# dependency and not installed here; dist/ comes from the build stage instead.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force \
 && ln -s /app/bin/mixpeek-export.js /usr/local/bin/mixpeek-export
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY config/example.yaml ./config/example.yaml
# Files stay owned by root and read-only to the process. The numeric uid of the image's
# `node` user, so Kubernetes' runAsNonRoot can check it. No secrets here: MIXPEEK_API_KEY and
# cloud credentials come from the environment at run time (a Secret, IRSA, workload identity).
USER 1000:1000
# A heap ceiling: without one V8 lets garbage build up to a quarter of the container's memory
# before it collects it all (docs/performance.md#memory). The live heap of an export at the
# defaults stays under 100 MB, with vectors and four slices. Override with NODE_OPTIONS.
ENV NODE_OPTIONS=--max-old-space-size=512
# Node itself is PID 1: the CLI handles SIGTERM (stops within a page, checkpoint valid, exit 143).
ENTRYPOINT ["node", "/app/bin/mixpeek-export.js"]
CMD ["--help"]
