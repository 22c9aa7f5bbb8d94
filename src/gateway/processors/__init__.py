"""The processor port, its implementations (simulator, Authorize.Net) and the circuit breaker."""
