"""All SQL of the answer pipeline, one module per concern.

- ``faqs``: the FAQ knowledge base (questions and their variants' vectors) and the re-embedding of
  the pipeline's stored vectors after a model change.
- ``conversations``: conversations, messages, feedback and unanswered questions.
- ``turn_statements``: a chat turn's writes, one statement each: the message with the usage
  counters (``record_message_metered``), the answer with its tokens (``record_answer``).
- ``client_messages``: visitors' messages sent with a client_message_id (found by it, the claim
  on answering one).
- ``deliveries``: the outbox of webhooks to the owner.
"""
