"""Elements: declarative connector definitions, the built-in catalog and custom ones."""
