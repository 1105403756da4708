"""gunicorn entry point: ``gunicorn gateway.wsgi:app``."""
from gateway.app import create_production_app

app = create_production_app()
