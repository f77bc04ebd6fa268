"""Chinese pages group large numbers by thousands with a comma (728,961 CNY), as Chinese
contracts, invoices and finance reports write amounts; Django's own Chinese format writes them
ungrouped (728961), which reads badly in a cost column. Dates are Django's (2026年12月7日)."""

THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
