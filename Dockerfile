# The Labour Trust code location: a Dagster code server for labour_trust.definitions.
# The same image runs the runs themselves (the K8sRunLauncher starts it once per run).
#
#   docker build -t registry.example.internal/labour-trust:0.1.0 .
#
# No secret is baked in: the linkage key, the sharing secret, the PostgreSQL password and
# AWS credentials come from the environment at run time (docs/deploy.md).
# For reproducible builds, pin the base by digest as well (python:3.11-slim-bookworm@sha256:…).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    LABOUR_TRUST_HOME=/var/lib/labour-trust

RUN groupadd --system --gid 10001 labour \
    && useradd --system --uid 10001 --gid labour --no-create-home \
       --home-dir /var/lib/labour-trust --shell /usr/sbin/nologin labour

WORKDIR /opt/labour-trust
COPY pyproject.toml README.md ./
COPY labour_trust ./labour_trust
RUN pip install ".[production]"

# The instance config for a non-Kubernetes deployment (PostgreSQL from DAGSTER_PG_*). On
# Kubernetes the Dagster Helm chart mounts its own dagster.yaml over this one.
COPY dagster.production.yaml ${DAGSTER_HOME}/dagster.yaml
RUN mkdir -p ${LABOUR_TRUST_HOME} \
    && chown -R labour:labour ${DAGSTER_HOME} ${LABOUR_TRUST_HOME}

USER 10001:10001
EXPOSE 4000

CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", \
     "-m", "labour_trust.definitions"]
