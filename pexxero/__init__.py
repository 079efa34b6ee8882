"""pexxero: move PEX card activity into Xero, exactly once, after showing what will change."""

__version__ = "0.1.0"
