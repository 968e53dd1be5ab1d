"""A workspace's data over its life: exports, deletion, visitor erasure and retention.

Sits above the domains (it reads and removes the rows of workspaces, rag and billing), below the
HTTP layer: it never imports ``api`` or ``fastapi``.
"""
