"""Billing: what falls due and charging it.

- `tick`: which invoices fall due (new periods, retries) and requests them;
- `renewal`: an invoice's claim and its charge attempt through the money runner;
- `attempt`: an attempt's phases as a stored-card purchase linked to its invoice;
- `outcomes`: what an attempt's outcome makes of the invoice and subscription;
- `dunning`: the retry schedule and the end of dunning;
- `schedule`: periods, anchors and trials;
- `passes`: one pass in the foreground.
"""
