# The schedule service as an image (README "Deploy"): SQLite on the /app/data volume by default,
# PostgreSQL with STORAGE_DRIVER=postgres and DATABASE_URL; the migrations alone with
# `node dist/src/migrate.js`; the example agent runtime with `node examples/agent-runtime.mjs`.
#
#   docker build -t schedule-service .
#   # behind a TLS-intercepting proxy, trust its CA for npm:
#   docker build --secret id=npm_ca,src=/etc/ssl/certs/ca-certificates.crt -t schedule-service .

# Every package, with sqlite3 compiled from source (its prebuilt binaries' host may not be
# reachable): against the image's own Node headers, on every core.
FROM node:24-bookworm-slim AS dependencies
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
ENV npm_config_nodedir=/usr/local JOBS=max
WORKDIR /app
COPY package.json package-lock.json ./
# The npm_ca secret is optional: without it the mount is absent and npm trusts Node's own CAs.
RUN --mount=type=secret,id=npm_ca \
  if [ -f /run/secrets/npm_ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/npm_ca; fi \
  && npm ci --no-audit --no-fund

FROM dependencies AS build
COPY tsconfig.json tsconfig.build.json ormconfig.ts ./
COPY src ./src
# The web console, built by Vite into dist/console; its API types come from the generated client.
COPY web ./web
COPY examples/schedule-api.d.ts ./examples/
RUN npm run build

# The production packages alone. `--omit=optional` as well as `--omit=dev`: TypeORM names ts-node
# as an optional peer, so ts-node and TypeScript are "dev or optional" and `--omit=dev` alone keeps
# them; the only other optional packages are node-gyp's (sqlite3 is compiled already) and pg's
# Cloudflare sockets. Then what Node never loads: source maps, type declarations, markdown, and
# sqlite3's sources and build intermediates (only its compiled addon is loaded).
FROM dependencies AS production-dependencies
RUN npm prune --omit=dev --omit=optional --no-audit --no-fund \
  && find node_modules -type f \( -name '*.map' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.md' \) -delete \
  && cd node_modules/sqlite3 \
  && mv build/Release/node_sqlite3.node . && rm -rf build deps src \
  && mkdir -p build/Release && mv node_sqlite3.node build/Release/

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
# The code stays root's (read-only to the service); SQLite's file goes in data/, the node user's.
RUN mkdir data && chown node:node data
COPY --from=production-dependencies /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY examples ./examples
USER node
# SQLITE_PATH's default, data/schedules.sqlite, is on this volume.
VOLUME ["/app/data"]
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT || 3000}/health/live`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/src/main.js"]
