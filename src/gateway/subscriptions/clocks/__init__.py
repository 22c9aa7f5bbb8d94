"""Test clocks: a merchant's simulated time for subscriptions (API.md "Test clocks").

- `service`: creating, reading and deleting clocks;
- `advance`: moving a clock forward, billing and settling on its time;
- `repository`: their queries;
- `routes`: the HTTP endpoints;
- `time_of`: a clock's time as the `Clock` services take.
"""
