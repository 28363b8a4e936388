# The iot-pipelines worker and CLI. No build step: TypeScript runs through tsx.
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev
COPY . .
ENTRYPOINT ["node", "bin/iot-pipelines.mjs"]
CMD ["worker"]
