"""ispops: the operations platform for Internet service providers."""

__version__ = "0.1.0"
