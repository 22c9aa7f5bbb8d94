"""Reports operators run over the gateway's ledger and the processors' records."""
