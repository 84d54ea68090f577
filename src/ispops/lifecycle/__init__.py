"""Service lifecycle: activation workflows (history in ``service_activations``)."""
