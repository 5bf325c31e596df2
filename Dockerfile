# tact decision service. Same install steps as the Makefile; SQLite by default,
# set TACT_DATABASE_URL=postgresql+psycopg://... to share a ledger between replicas.
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
 && useradd --create-home --uid 10001 tact \
 && mkdir -p /var/lib/tact && chown tact /var/lib/tact

WORKDIR /app
COPY --chown=tact:tact . /app

# As in the Makefile: torch pinned first (2.13.0 resolves to the CPU build), then tact.
RUN python -m venv /app/.venv \
 && /app/.venv/bin/pip install --upgrade pip \
 && /app/.venv/bin/pip install torch==2.13.0 \
 && /app/.venv/bin/pip install -e . \
 && chown -R tact:tact /app

USER tact
ENV PATH=/app/.venv/bin:$PATH
EXPOSE 50051

HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD python -c "import grpc,sys; from grpc_health.v1 import health_pb2 as h, health_pb2_grpc as g; \
c=grpc.insecure_channel('127.0.0.1:50051'); \
r=g.HealthStub(c).Check(h.HealthCheckRequest(service='tact.v1.DecisionService'), timeout=2); \
sys.exit(0 if r.status == h.HealthCheckResponse.SERVING else 1)"

CMD ["tact", "serve"]
