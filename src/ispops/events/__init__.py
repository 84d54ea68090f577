"""Domain events: the transactional outbox and webhook delivery (issue 18)."""
