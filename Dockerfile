# The base image of every stage; a registry mirror or a pinned digest goes here:
#   docker build --build-arg BASE_IMAGE=registry.example.com/node:24-bookworm-slim .
ARG BASE_IMAGE=node:24-bookworm-slim

# Build stage: every dependency, TypeScript compiled to dist/.
FROM ${BASE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY nest-cli.json tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# Production dependencies only: no dev dependency reaches the final stage.
FROM ${BASE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# Runtime: configured by the environment alone, run as `node`. The code belongs to root (the
# process cannot change it); DATA_DIR is the one place it writes (the sqlite store), a volume
# owned by `node`, so the root filesystem can be mounted read-only.
FROM ${BASE_IMAGE}
ENV NODE_ENV=production PORT=3000 DATA_DIR=/app/data
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
RUN mkdir -p "$DATA_DIR" && chown node:node "$DATA_DIR"
VOLUME ["/app/data"]
USER node
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/health/live').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
STOPSIGNAL SIGTERM
CMD ["node", "dist/main.js"]
