# tact decision service. Same install steps as the Makefile; SQLite by default,
# set TACT_DATABASE_URL=postgresql+psycopg://... to share a ledger between replicas.
#
# The serving user (tact, uid 10001) can read the code, the rule files and the policies
# but write none of them: everything under /app belongs to root. The ledger directory
# /var/lib/tact is the only path it can write (a read-only root filesystem works:
# docs/deployment.md). Rule edits come as a new image or a mounted ConfigMap, never
# from the service itself.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    TACT_HOST=0.0.0.0 \
    TACT_PORT=50051 \
    TACT_DATABASE_URL=sqlite:////var/lib/tact/tact.db

# gcc: durable_rules 2.0.28 builds from source.
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc g++ make \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --no-create-home --home-dir /var/lib/tact --shell /usr/sbin/nologin --uid 10001 tact \
 && install -d -o tact -g tact -m 0700 /var/lib/tact

WORKDIR /app
# Owned by root, not writable by tact.
COPY . /app

# As in the Makefile: torch pinned first (2.13.0 resolves to the CPU build), then tact.
RUN python -m venv /app/.venv \
 && /app/.venv/bin/pip install --upgrade pip \
 && /app/.venv/bin/pip install torch==2.13.0 \
 && /app/.venv/bin/pip install -e . \
 && /app/.venv/bin/python -m compileall -q /app/engine /app/policies /app/simulator /app/tact \
 && chmod -R go-w /app

USER tact
ENV PATH=/app/.venv/bin:$PATH
# The image checks itself: the build fails if the serving user could change what it serves.
RUN test ! -w /app/rules && test ! -w /app/rules/US.yaml && test ! -w /app/policies \
 && test ! -w /app/policies/models && test ! -w /app/engine && test -w /var/lib/tact

VOLUME ["/var/lib/tact"]
# gRPC; the JSON/HTTP door and /metrics when TACT_HTTP_PORT / TACT_METRICS_PORT are set.
EXPOSE 50051 8080 9464

HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD python -c "import grpc,sys; from grpc_health.v1 import health_pb2 as h, health_pb2_grpc as g; \
c=grpc.insecure_channel('127.0.0.1:50051'); \
r=g.HealthStub(c).Check(h.HealthCheckRequest(service='tact.v1.DecisionService'), timeout=2); \
sys.exit(0 if r.status == h.HealthCheckResponse.SERVING else 1)"

CMD ["tact", "serve"]
