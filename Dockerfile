# syntax=docker/dockerfile:1
# One image for both processes: `shoal operator` (Deployment) and `shoal agent`
# (DaemonSet). TypeScript runs as is on Node 24 (type stripping); nothing is compiled.
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
# Runtime dependencies only, exactly as locked.
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force

FROM ${NODE_IMAGE}
WORKDIR /app
ENV NODE_ENV=production \
    HOME=/tmp
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY bin/ ./bin/
COPY operator/ ./operator/
COPY agents/ ./agents/
COPY crds/ ./crds/
# Nonroot by default (the operator runs so); the agent DaemonSet sets runAsUser 0.
USER 65532:65532
ENTRYPOINT ["node", "bin/shoal.ts"]
