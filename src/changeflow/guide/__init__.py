"""The built-in process guide (PRODUCT §10): each stage of the change process and each role,
in Chinese and English, and the contextual help link on every page."""
