"""Change-request form templates (PRODUCT §10: configurable CR forms per project)."""
