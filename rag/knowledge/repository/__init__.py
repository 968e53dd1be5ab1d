"""All SQL of the knowledge domain, one module per concern.

- ``documents``: the documents table (submissions, the job's bookkeeping, listings).
- ``chunks``: chunks written, rewritten and read back, with their vectors.
- ``search``: vector, full-text and hybrid search over one workspace's chunks, and BM25 over
  their stored terms within a postings budget (``lexical_search``).
- ``terms``: each chunk's BM25 terms (``chunk_terms``, ``chunks.term_count``), written with it;
  the workspace's statistics (``lexical_stats``, ``lexical_df``) follow by triggers (0048).
- ``indexes``: the per-workspace HNSW indexes and the embedding column's dimension (DDL, on the
  owner connection or through the migration's SECURITY DEFINER functions).

Callers pass a session whose tenant context is set; every statement still filters by
``workspace_id`` explicitly.
"""
