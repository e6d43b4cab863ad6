# Arda notification service. Build: docker build -t arda-realtime .   Run: see deploy/docker-compose.yml
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
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
