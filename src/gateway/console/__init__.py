"""The operator console: server-rendered pages under /console for people, with
operator accounts, signed-cookie sessions, CSRF tokens and an audit row per action."""
