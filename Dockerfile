# syntax=docker/dockerfile:1
# The connector image with exactly the packages uv.lock locks (versions and hashes).
# Dockerfile.airbyte builds the same connector the way Airbyte's own build does (its python
# connector template: `pip install .` on python-connector-base); both give the same commands.
# Any base with python3 (and its venv module) works; scripts/image.sh builds one from Debian
# packages for machines that cannot pull images:
#   --build-arg BASE_IMAGE=localhost/debian-python:bookworm
ARG BASE_IMAGE=docker.io/airbyte/python-connector-base:4.1.0@sha256:1d1aa21d34e851df4e8a87b391c27724c06e2597608e7161f4d167be853bd7b6

FROM ${BASE_IMAGE} AS builder
WORKDIR /airbyte/integration_code
# uv, pinned by version and hashes, in the builder stage only: it installs exactly what uv.lock
# locks (versions and hashes) and nothing else.
COPY scripts/uv-requirements.txt /tmp/uv-requirements.txt
RUN "$(command -v python3 || command -v python)" -m venv /opt/uv \
    && /opt/uv/bin/pip install --no-cache-dir --require-hashes -r /tmp/uv-requirements.txt
# A venv rather than the system site-packages: Debian's pip refuses system installs (PEP 668),
# and a venv copies cleanly into a final stage built FROM the same base.
RUN "$(command -v python3 || command -v python)" -m venv --without-pip /opt/venv
# The base's Python and CA certificates (as its pip uses them); bytecode compiled now, since the
# final stage runs as a user who cannot write it.
ENV UV_PROJECT_ENVIRONMENT=/opt/venv UV_PYTHON_DOWNLOADS=never UV_SYSTEM_CERTS=1 \
    UV_NO_CACHE=1 UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy
# Dependencies first, in a layer that only pyproject.toml and uv.lock invalidate, so a code
# change rebuilds in seconds rather than reinstalling the CDK. The runtime set only: no extras.
# --locked fails the build if uv.lock is out of date with pyproject.toml.
COPY pyproject.toml uv.lock ./
RUN /opt/uv/bin/uv sync --locked --no-install-project --no-editable
COPY README.md ./
COPY destination_propexo ./destination_propexo
RUN /opt/uv/bin/uv sync --locked --no-editable

FROM ${BASE_IMAGE}
# Airbyte's base already has the non-root user airbyte (uid 1000); plain bases get the same one.
RUN id -u airbyte >/dev/null 2>&1 \
    || useradd --uid 1000 --user-group --no-create-home --shell /usr/sbin/nologin airbyte
COPY --from=builder /opt/venv /opt/venv
ENV PATH="/opt/venv/bin:${PATH}"
WORKDIR /airbyte/integration_code
USER airbyte

LABEL io.airbyte.name=airbyte/destination-propexo io.airbyte.version=0.1.0
ENV AIRBYTE_ENTRYPOINT="destination-propexo"
ENTRYPOINT ["destination-propexo"]
