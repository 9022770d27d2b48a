# syntax=docker/dockerfile:1
# The liftscale platform: broker, ingest, alerts and the duty officers' API/console in one process
# (platform/main.ts), TypeScript run directly by tsx. Built by docker-compose.yml; docs/deployment.md.

# ---- build: install with the lock file (compiles better-sqlite3 when no prebuilt binary fits),
# bundle the console, then drop the development packages.
FROM node:20-bookworm-slim AS build
WORKDIR /app
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run --if-present console:build \
  && npm prune --omit=dev --no-audit --no-fund

# ---- runtime: no compiler, no development packages, not root.
FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    DATA_DIR=/data \
    HTTP_PORT=8080
WORKDIR /app
COPY --from=build /app /app
# The registry, alerts, spool and dead letters live under DATA_DIR: a volume, owned by the user that runs.
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
# MQTT, MQTT over TLS, HTTP (API, console, /metrics, /healthz).
EXPOSE 1883 8883 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=40s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.HTTP_PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# What `npm start` runs, without npm and a shell in between: SIGTERM from `docker stop` reaches the
# platform's own handler, which flushes the ingest spool before exiting.
CMD ["node", "--import", "tsx", "platform/main.ts"]
