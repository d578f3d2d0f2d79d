"""Rule model, site model, rule engine and the ISA-18.2 alarm lifecycle."""
