"""The contacts service (see ../shared/design/ARCHITECTURE.md)."""
