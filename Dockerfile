# Arda notification service. Build: docker build -t arda-realtime .   Run: see deploy/docker-compose.yml
# The notification center and the dashboard (served at / and /dashboard): the client's Vite build, which writes
# them into the package (src/arda/notifications/webapp/); the wheel refuses to build without them.
FROM node:20-slim AS pages
WORKDIR /src/clients/typescript
COPY clients/typescript/package.json clients/typescript/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY clients/typescript ./
RUN npm run build:app

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE MANIFEST.in ./
COPY tools ./tools
COPY src ./src
COPY --from=pages /src/src/arda/notifications/webapp ./src/arda/notifications/webapp
RUN pip install --no-cache-dir --prefix=/install '.[service]'

FROM python:3.11-slim
RUN useradd --system --uid 10001 arda
COPY --from=build /install /usr/local
USER arda
# Production by default: on 0.0.0.0 development mode stays off, so the service refuses to start (status 2)
# until it is given ARDA_JWT_SECRET, ARDA_JWT_PUBLIC_KEY or ARDA_JWKS_URL (and ARDA_API_KEY to publish).
ENV ARDA_HOST=0.0.0.0 ARDA_STATE_DIR=/tmp/arda
EXPOSE 3001 3002
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:3002/healthz').status != 200)"
STOPSIGNAL SIGTERM
ENTRYPOINT ["arda", "serve"]
