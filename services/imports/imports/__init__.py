"""The imports service (see ../shared/design/ARCHITECTURE.md)."""
