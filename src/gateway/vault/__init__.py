"""Payment methods: stored cards as tokens, and card validation."""
