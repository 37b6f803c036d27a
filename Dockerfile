# syntax=docker/dockerfile:1
# Build stage: the same pinned install the README's quickstart does (pip with constraints.txt), into a venv.
FROM python:3.11-slim AS build
WORKDIR /src
RUN python -m venv /opt/sev1bot
COPY pyproject.toml constraints.txt README.md ./
COPY src ./src
RUN /opt/sev1bot/bin/pip install --no-cache-dir --disable-pip-version-check -c constraints.txt .

# Run stage: slim, no build tools, non-root.
FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /app --create-home sev1bot
COPY --from=build /opt/sev1bot /opt/sev1bot
COPY playbooks /app/playbooks
WORKDIR /app
USER sev1bot
ENV PATH=/opt/sev1bot/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    SEV1BOT_LISTEN=0.0.0.0:8080 \
    SEV1BOT_PLAYBOOKS=/app/playbooks \
    SEV1BOT_DATABASE_URL=sqlite:////app/data/sev1bot.db
RUN mkdir -p /app/data
# Mount your own playbooks over /app/playbooks and keep /app/data on a volume when using SQLite.
VOLUME ["/app/data"]
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os,urllib.request; port=os.environ.get('SEV1BOT_LISTEN','0.0.0.0:8080').rsplit(':',1)[1]; urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=2)"]
ENTRYPOINT ["sev1bot"]
CMD ["run"]
