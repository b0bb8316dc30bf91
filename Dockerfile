# The sloserve image: operator, gateway, engine simulator, report and placement extender in one image.
# Multi-stage: wheels are built (the simulator's hot modules compiled) in a builder stage; the runtime
# stage has no compiler and runs as non-root.

FROM python:3.11-slim AS builder
# a C compiler for the modules setup.py compiles with mypyc (the wheel carries them built)
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ARG UID=10001
RUN useradd --uid "${UID}" --no-create-home --shell /usr/sbin/nologin sloserve
COPY --from=builder /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER ${UID}
ENV PYTHONUNBUFFERED=1
ENTRYPOINT ["sloserve"]
CMD ["--help"]
