# Turnout's image: the package as `npm pack` builds it (dist/ JavaScript, the
# CRD, examples), installed with production dependencies only, on the official
# Node 24 slim image, run as a non-root user. Build: docker build -t turnout .
#
# Stage 1 builds the package tarball (TypeScript → dist/ via `npm pack`).
FROM node:24-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: the `node` dependency would download a second Node 24
# binary; the image already has one.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm pack --pack-destination /tmp --ignore-scripts=false && mv /tmp/turnout-*.tgz /tmp/turnout.tgz

# Stage 2: production dependencies and the package, nothing else.
FROM node:24-slim
ENV NODE_ENV=production
WORKDIR /opt/turnout
COPY --from=build /tmp/turnout.tgz /tmp/turnout.tgz
RUN npm install --omit=dev --ignore-scripts --no-audit --no-fund /tmp/turnout.tgz \
 && rm /tmp/turnout.tgz && npm cache clean --force
# The `node` user (uid 1000) of the official image; no shell needed at run
# time, no write access to the application. Listeners use ports >= 1024 (the
# chart maps 80/443 on the Service), so no capability is needed.
USER 1000:1000
ENTRYPOINT ["node", "/opt/turnout/node_modules/turnout/bin/turnout.js"]
CMD ["--help"]
