"""gunicorn settings for the gateway (threads: requests wait on RPC replies, not CPU)."""
import os

bind = os.environ.get("CRM_GATEWAY_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("CRM_GATEWAY_WORKERS", "2"))
worker_class = "gthread"
threads = int(os.environ.get("CRM_GATEWAY_THREADS", "16"))
timeout = 60
graceful_timeout = 20
keepalive = 5
accesslog = None
