"""The console's controllers, thin: each reads a form or a query, calls the
console's queries or actions, and renders a template."""
