"""The scoring service (see ../shared/design/ARCHITECTURE.md)."""
