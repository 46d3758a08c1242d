"""Security building blocks: outbound-URL guard, credential encryption, API keys."""
