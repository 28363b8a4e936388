# The iot-pipelines worker and CLI: compiled JavaScript in dist/ (scripts/build.mjs), then the
# development dependencies pruned.
FROM node:20-bookworm-slim
WORKDIR /app
COPY . .
RUN npm ci && npm prune --omit=dev
ENTRYPOINT ["node", "bin/iot-pipelines.mjs"]
CMD ["worker"]
