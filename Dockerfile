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
# Media is UDP: run with host networking, or publish a --media-ports range (see docker-compose.yml).
# On 0.0.0.0 Huddle needs HUDDLE_API_KEYS and TLS: a self-signed certificate here (kept in /data);
# give --tls-cert/--tls-key, or --behind-proxy behind a TLS proxy, in a real deployment.
CMD ["huddle", "serve", "--host", "0.0.0.0", "--port", "8080", "--data-dir", "/data", "--self-signed"]
