"""The segments service (see ../shared/design/ARCHITECTURE.md)."""
