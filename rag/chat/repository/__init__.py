"""All SQL of the answer pipeline, one module per concern.

- ``faqs``: the FAQ knowledge base (questions and their variants' vectors) and the re-embedding of
  the pipeline's stored vectors after a model change.
- ``conversations``: conversations, messages (recorded with the usage counters in one
  statement), feedback and unanswered questions.
- ``deliveries``: the outbox of webhooks to the owner.
"""
