# syntax=docker/dockerfile:1
#
# membrane container image.
#
#   docker build -t membrane .
#   docker run --read-only --tmpfs /tmp -v "$PWD/rules:/etc/membrane:ro" -p 9464:9464 membrane
#
# Contract with the deployment files (tests/deploy checks it): rules at
# /etc/membrane/rules.yaml, metrics/health on port 9464, numeric non-root
# user 10001, nothing written outside /tmp.

# One pinned interpreter for both stages: the virtualenv built in the first
# stage links to this exact Python. Bump deliberately, never float.
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
RUN python -m venv /opt/membrane
# Every runtime dependency ships manylinux wheels, so this stage needs no
# compiler; the build stage exists to keep pip and the sources out of the image.
COPY pyproject.toml README.md ./
COPY bus ./bus
COPY filters ./filters
RUN /opt/membrane/bin/pip install --no-compile . \
    && /opt/membrane/bin/python -m compileall -q -j 0 /opt/membrane/lib

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="membrane" \
      org.opencontainers.image.description="Bus-level topology, damping and measurement for fleets of AI agents on Kafka and MQTT" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 membrane \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin membrane \
    && mkdir -p /etc/membrane
COPY --from=build /opt/membrane /opt/membrane
# Read-only root filesystem: bytecode was compiled at build time, so Python
# never writes .pyc files; the only writable place a pod needs is /tmp
# (an emptyDir), where matplotlib (used by `membrane sim` plots) keeps its cache.
ENV PATH=/opt/membrane/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    MPLCONFIGDIR=/tmp/matplotlib
WORKDIR /tmp
# Numeric so that Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER 10001:10001
EXPOSE 9464
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9464/healthz', timeout=2)"]
ENTRYPOINT ["membrane"]
# No --bootstrap here: the rules file's kafka section (or a --bootstrap
# argument appended at run time) names the cluster. No rules file is baked in
# either: a container started without mounted rules fails loudly rather than
# enforcing an example policy.
CMD ["run", "--rules", "/etc/membrane/rules.yaml", "--metrics-addr", "0.0.0.0:9464"]
