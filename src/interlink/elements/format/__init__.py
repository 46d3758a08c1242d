"""The element definition format, one module per part; `interlink.elements.definition`
re-exports it whole."""
