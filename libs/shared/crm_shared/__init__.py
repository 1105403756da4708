"""Shared contracts of the CRM services (config, events, validators, auth, db helpers)."""
import warnings

# nameko 2.14 needs eventlet, which announces its deprecation on every import; keep logs readable.
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
