"""The HTTP gateway: authenticates, authorises, validates, fans out RPC, aggregates."""
