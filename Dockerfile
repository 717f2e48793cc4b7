# One image for every production process (web, websocket, worker, beat); docker-compose.yml
# picks the command. Static files are collected at build time and served by whitenoise.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .
RUN SECRET_KEY=build-only-not-a-real-secret-0123456789abcdef DEBUG=false ALLOWED_HOSTS=build \
    CRISISCENTER_DATA_DIR=/app/var python manage.py collectstatic --noinput -v 0

RUN useradd --system --uid 10001 crisis && chown -R crisis /app/var
USER crisis
EXPOSE 8000 8001
CMD ["gunicorn", "crisiscenter.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--worker-class", "gthread", "--threads", "4", "--keep-alive", "30"]
