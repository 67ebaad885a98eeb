# syntax=docker/dockerfile:1
# extend-exporter container image.
#
# Two stages: "build" makes a wheel of this project, installs it with its dependencies into a
# virtual environment at /opt/venv, then assembles the runtime root file system from it
# (image/rootfs.sh): the interpreter, its standard library, the venv and the shared libraries
# they load. The runtime stage is FROM scratch with only that: no shell, package manager, coreutils,
# setuid binaries, compiler, pip or source tree.
#
# BASE_IMAGE (build stage only) must provide `python3` (3.11+) with the venv module, ldd and chroot.
# The default is the official slim image pinned by digest; CI builds against a local Debian bookworm
# base instead (deploy/image-test.sh) because it has no registry access.
ARG BASE_IMAGE=python:3.11-slim-bookworm@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b

FROM ${BASE_IMAGE} AS build
# Optional, for builds behind a package mirror or a TLS-intercepting proxy; used by the build stage only.
ARG PIP_INDEX_URL
ARG PIP_CERT
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python3 -m venv /opt/venv
# Dependencies first, from pyproject.toml alone, so this layer is reused while only the code changes;
# at the versions pinned in requirements.lock, so that rebuilding the same commit gives the same image.
COPY pyproject.toml requirements.lock ./
RUN python3 -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
        > /tmp/requirements.txt \
    && /opt/venv/bin/pip install --no-cache-dir -c requirements.lock -r /tmp/requirements.txt
COPY . ./
RUN /opt/venv/bin/pip wheel --no-cache-dir --no-deps --wheel-dir /tmp/wheels . \
    && /opt/venv/bin/pip install --no-cache-dir --no-deps /tmp/wheels/extend_exporter-*.whl \
    && /opt/venv/bin/pip check \
    && /opt/venv/bin/extend-exporter --help > /dev/null \
    && /opt/venv/bin/python -m pip uninstall --yes pip setuptools \
    && sh image/rootfs.sh /rootfs

FROM scratch
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
# Where the source lives; set at build time (--build-arg SOURCE_URL=...) by whoever publishes the image.
ARG SOURCE_URL=""
LABEL org.opencontainers.image.title="extend-exporter" \
      org.opencontainers.image.description="Prometheus exporter for Extend (extend.ai) document-processing runs" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="${SOURCE_URL}"
ENV PATH=/opt/venv/bin:/usr/local/bin:/usr/bin \
    HOME=/var/lib/extend-exporter \
    LANG=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MALLOC_ARENA_MAX=2 \
    EXTEND_EXPORTER_STATE_FILE=/var/lib/extend-exporter/state.json
# Numeric, non-root identity (in /etc/passwd as extend-exporter); the state directory, owned by it, is
# the only writable path the exporter needs, so the root filesystem can be mounted read-only.
COPY --from=build /rootfs/ /
USER 10001:10001
WORKDIR /var/lib/extend-exporter
VOLUME ["/var/lib/extend-exporter"]
EXPOSE 9864
# Exec form: there is no shell to run a command string.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["extend-exporter", "healthcheck"]
ENTRYPOINT ["extend-exporter"]
CMD ["run"]
