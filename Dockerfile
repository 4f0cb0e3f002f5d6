# The one image every aiplat service runs from (`python -m services.<name>`).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gen ./gen
COPY services ./services
RUN pip install --no-cache-dir . && useradd --uid 10001 --no-create-home aiplat
USER 10001
