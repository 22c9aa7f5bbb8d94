"""The Authorize.Net connector (ANET.md): its wire types, limits, answers and
HTTP client. The processor-port implementation is built on these."""
