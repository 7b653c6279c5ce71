# Self-check sample: a Dockerfile hadolint accepts at --failure-threshold info.
FROM python:3.11.9-slim-bookworm
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY src/ ./src/
USER 10001
HEALTHCHECK CMD ["python", "-c", "print('ok')"]
CMD ["python", "-m", "src.serve"]
