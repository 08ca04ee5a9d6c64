# The weft worker image used by docker-compose.yml.
FROM node:20-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends git ripgrep ca-certificates && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/weft
COPY package.json package-lock.json ./
RUN npm install --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts ./scripts
COPY bin ./bin
COPY workflows ./workflows
COPY examples ./examples
RUN npm run build && npm prune --omit=dev
ENV PATH="/opt/weft/bin:${PATH}"
ENTRYPOINT ["node", "/opt/weft/bin/weft.js"]
CMD ["worker"]
