# The broker image: Node 20, production dependencies, TypeScript run through tsx.
FROM node:20-bookworm-slim
WORKDIR /app
# better-sqlite3 compiles from source when no prebuilt binary matches.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY proto ./proto
COPY sdk ./sdk
COPY server ./server
ENV BROKER_HOST=0.0.0.0 \
    BROKER_GRPC_PORT=50051 \
    BROKER_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 50051
USER node
CMD ["node", "--import", "tsx", "server/src/main.ts"]
