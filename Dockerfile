# The images aiplat runs from in the cluster (`python -m services.<name>`, and `envoy` for the gateway):
#   docker build --target gpu -t aiplat-gpu:0.1.0 .   inference pods on GPU nodes (istio/base/inference.yaml)
#   docker build -t aiplat:0.1.0 .                    every other pod, the gateway's included

# ONNX Runtime's CUDA provider (onnxruntime-gpu from 1.31) loads the CUDA 13 runtime, cuBLAS and cuDNN 9
# from the system, which this base image carries; CuPy finds the same CUDA runtime. Ubuntu 24.04's Python
# is 3.12.
FROM nvidia/cuda:13.0.1-cudnn-runtime-ubuntu24.04 AS gpu
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/opt/aiplat/bin:$PATH
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/aiplat
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gen ./gen
COPY services ./services
# The gpu extra replaces the CPU build of onnxruntime with onnxruntime-gpu (both own the same module).
RUN pip install --no-cache-dir '.[gpu]' && useradd --uid 10001 --no-create-home aiplat
USER 10001

# Last, so that a plain `docker build` makes the CPU image.
FROM python:3.11-slim AS cpu
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gen ./gen
COPY services ./services
RUN pip install --no-cache-dir . && useradd --uid 10001 --no-create-home aiplat
USER 10001
