# The Arda notification service: the notification center and the dashboard built in a Node stage, the package
# with its `service` extra installed in a Python stage, and a slim final stage that runs as a non-root user,
# production by default.
#
#   docker build -t arda-realtime .
#   docker compose -f docker-compose.events.yml up --build      (Redis with AOF and two instances)
#
# No container engine runs where this repository is developed and tested, so this image is not built by its
# tests: tests/test_deploy.py reads this file, docker-compose.events.yml and deploy/kubernetes.yaml and checks
# them against the service itself (its settings, ports and health routes). Keep them simple.

# -- the pages (clients/typescript → src/arda/notifications/webapp/) ------------------------------------------
FROM node:20-bookworm-slim AS pages
WORKDIR /src/clients/typescript
COPY clients/typescript/package.json clients/typescript/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY clients/typescript/ ./
RUN npm run build:app

# -- the package, with what the service needs ----------------------------------------------------------------
FROM python:3.11-slim AS build
WORKDIR /src
COPY . .
COPY --from=pages /src/src/arda/notifications/webapp/ ./src/arda/notifications/webapp/
RUN pip install --no-cache-dir --prefix=/install '.[service]'

# -- the image -------------------------------------------------------------------------------------------------
FROM python:3.11-slim
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin arda
COPY --from=build /install /usr/local
# Numeric, so that Kubernetes' runAsNonRoot can check it.
USER 10001:10001
# Production by default: on 0.0.0.0 development mode stays off, so the service refuses to start (status 2)
# until it is given ARDA_JWT_SECRET, ARDA_JWT_PUBLIC_KEY or ARDA_JWKS_URL (and ARDA_API_KEY to publish).
ENV ARDA_HOST=0.0.0.0 ARDA_STATE_DIR=/tmp/arda PYTHONDONTWRITEBYTECODE=1
EXPOSE 3001 3002
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('ARDA_HTTP_PORT', '3002'), timeout=2)"
STOPSIGNAL SIGTERM
ENTRYPOINT ["arda", "serve"]
