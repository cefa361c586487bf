# syntax=docker/dockerfile:1
# tke-anp-tunnel: one image for both roles.
#   docker build -t registry.example.com/tke-anp-tunnel:0.1.0 .
#   docker run --rm registry.example.com/tke-anp-tunnel:0.1.0 --mode=server --help
#
# Stages: build (all dependencies, TypeScript compile), deps (production
# dependencies only), runtime (Node.js, the compiled code, production
# node_modules; no compilers, no npm, non-root).

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: compile TypeScript -------------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
# hooks/ holds provider modules (compiled into dist/hooks); make sure both
# exist even when no provider is built, so the runtime COPY never fails.
RUN npm run build && mkdir -p dist/hooks hooks

# ---- deps: production dependencies only ---------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# ---- runtime -------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="tke-anp-tunnel" \
      org.opencontainers.image.description="Konnectivity-compatible tunnel between a meta Kubernetes cluster and managed clusters (tunnel --mode=server|agent)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/tkestack/tke-anp-tunnel"

# The runtime needs node only: drop the package managers the base image ships.
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
           /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
           /usr/local/bin/yarn /usr/local/bin/yarnpkg /opt/yarn-*

ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist/src ./dist/src
COPY --from=build /src/dist/hooks ./dist/hooks
COPY --from=build /src/proto ./proto
COPY --from=build /src/hooks ./hooks
COPY package.json package-lock.json ./
# `tunnel` on PATH for `kubectl exec ... -- tunnel --version`.
RUN chmod 0755 /app/dist/src/main.js && ln -s /app/dist/src/main.js /usr/local/bin/tunnel

# Numeric non-root user, so Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
# frontend (mTLS), agent port, server health; agent health
EXPOSE 8090 8091 8092 8093
# V8 flags of src/cli/node-flags.ts (the server and agent log it when they run without them).
ENTRYPOINT ["node", "--max-semi-space-size=4", "--initial-old-space-size=64", "/app/dist/src/main.js"]
