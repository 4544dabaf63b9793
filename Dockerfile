# syntax=docker/dockerfile:1
# One image for both processes: `shoal operator` (Deployment) and `shoal agent` (DaemonSet). The TypeScript is
# emitted as JavaScript at build time (`make build`): running it through Node's type stripping costs ~30 MiB of
# RSS per process, a quarter of the agent's memory budget.
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
# Runtime dependencies only, exactly as locked.
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY bin/ ./bin/
COPY operator/ ./operator/
COPY agents/ ./agents/
RUN npx tsc -p tsconfig.build.json \
 && cp -r agents/runtime/containerd/proto build/agents/runtime/containerd/

FROM ${NODE_IMAGE}
WORKDIR /app
ENV NODE_ENV=production \
    HOME=/tmp
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY --from=build /app/build/ ./
COPY crds/ ./crds/
# Nonroot by default (the operator runs so); the agent DaemonSet sets runAsUser 0.
USER 65532:65532
ENTRYPOINT ["node", "bin/shoal.js"]
