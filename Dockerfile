# Huddle in one container: signalling and the SFU in one process.
FROM python:3.11-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends libopus0 libvpx7 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY sfu sfu
COPY signalling signalling
COPY huddle_client huddle_client
COPY benchmarks benchmarks
COPY static static
RUN pip install --no-cache-dir -e .
EXPOSE 8080
# Media is UDP on ports aioice picks; run with host networking (see docker-compose.yml).
CMD ["huddle", "serve", "--host", "0.0.0.0", "--port", "8080", "--data-dir", "/data"]
