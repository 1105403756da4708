"""Demo data, one module per owning service, loaded through the services' own RPCs.

Each module defines ``ORDER`` (load order) and ``load(rpc, context)``; the
context carries what earlier parts made (users by role, contact ids) so later
parts can refer to them. Loading twice changes nothing (every part upserts).
"""
