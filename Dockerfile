# The sloserve image: operator, gateway, engine simulator, report and placement extender in one image.
#
# Built from a directory of wheels, made on the build machine, so that the image itself compiles
# nothing and downloads nothing:
#   wheels/deps/   every dependency (`pip download -d wheels/deps <the package's dependencies>`)
#   wheels/        sloserve's own wheel (`pip wheel --no-deps -w wheels .`; the simulator's hot
#                  modules are compiled in it)
# then `docker build -f Dockerfile <that directory>`. BASE_IMAGE is any image with Python 3.11
# and its venv module: the default is the official slim image; `sloserve dev` builds on a Debian
# rootfs it imports itself, and pulls nothing.

ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
ARG UID=10001
RUN useradd --uid "${UID}" --no-create-home --shell /usr/sbin/nologin sloserve \
    && python3 -m venv /opt/sloserve
# Dependencies first: this layer is reused while only sloserve's own code changes.
COPY wheels/deps /wheels/deps
RUN /opt/sloserve/bin/pip install --no-cache-dir --no-index --no-deps /wheels/deps/*.whl \
    && rm -rf /wheels/deps
COPY wheels/*.whl /wheels/
RUN /opt/sloserve/bin/pip install --no-cache-dir --no-index --no-deps /wheels/*.whl \
    && rm -rf /wheels
ENV PATH=/opt/sloserve/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONUNBUFFERED=1
USER ${UID}
ENTRYPOINT ["sloserve"]
CMD ["--help"]
