# One small image for `kjs server` and `kjs agent` (the Helm chart passes the command).
# Build: docker build -t ghcr.io/kjs-project/kjs:0.1.0 .

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY kjs ./kjs
# The project itself with the production extras only (MySQL driver, NSQ client), no test
# tooling; its dependencies' versions are bounded in pyproject.toml.
# hadolint ignore=DL3013
RUN pip install --no-cache-dir --prefix=/install ".[mysql,nsq]"

FROM python:3.11-slim-bookworm
LABEL org.opencontainers.image.title="kjs" \
      org.opencontainers.image.description="Multi-cluster Kubernetes Job scheduler"
COPY --from=build /install /usr/local
# A fixed non-root user: the chart's securityContext runs it as 10001 with a read-only root.
RUN groupadd --gid 10001 kjs && useradd --uid 10001 --gid 10001 --no-create-home kjs \
    && mkdir -p /var/lib/kjs && chown kjs:kjs /var/lib/kjs
USER 10001:10001
WORKDIR /var/lib/kjs
ENV PYTHONUNBUFFERED=1 KJS_DATA_DIR=/var/lib/kjs
EXPOSE 8080 9090
ENTRYPOINT ["kjs"]
CMD ["server", "--host", "0.0.0.0"]
