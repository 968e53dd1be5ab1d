"""All SQL of the answer pipeline, one module per concern.

- ``faqs``: the FAQ knowledge base (questions and their variants' vectors) and the re-embedding of
  the pipeline's stored vectors after a model change.
- ``conversations``: conversations, messages (recorded with the usage counters in one
  statement), feedback and unanswered questions.
- ``client_messages``: visitors' messages sent with a client_message_id (found by it, the claim
  on answering one).
- ``deliveries``: the outbox of webhooks to the owner.
"""
