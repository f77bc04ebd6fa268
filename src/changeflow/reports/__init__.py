"""Process review and improvement (PRODUCT §9): metrics, periodic review reports, improvement
actions."""
