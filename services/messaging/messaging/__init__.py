"""The messaging service (see ../shared/design/ARCHITECTURE.md)."""
