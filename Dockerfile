# The broker image: Node 20, production dependencies, the broker compiled to JavaScript (dist/).
FROM node:20-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 compiles from source when no prebuilt binary matches.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
# npm workspaces: each workspace's package.json is needed before the install.
COPY package.json package-lock.json ./
COPY sdk/package.json ./sdk/
COPY server/package.json ./server/
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY sdk ./sdk
COPY server ./server
# npm run build bundles the web console (server/console/) into dist/console with this script.
COPY scripts/build-console.ts ./scripts/
RUN npm run build && npm prune --omit=dev --no-audit --no-fund \
 # The runtime needs better-sqlite3's compiled addon only: drop its sources, the SQLite amalgamation
 # and the object files (about 27 MB).
 && cd node_modules/better-sqlite3 \
 && rm -rf deps src binding.gyp build/Release/obj build/Release/obj.target build/Release/sqlite3.a build/Release/test_extension.node build/Release/.deps build/deps

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
ENV BROKER_HOST=0.0.0.0 \
    BROKER_GRPC_PORT=50051 \
    BROKER_DATA_DIR=/data
# A new named volume takes the ownership of the image's /data: writable by the node user.
RUN mkdir -p /data && chown node:node /data
VOLUME ["/data"]
EXPOSE 50051
USER node
CMD ["node", "dist/server/src/main.js"]
