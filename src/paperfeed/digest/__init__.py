"""Email digests: schedule (which period, who is due), compose (what goes in),
render (HTML + text), mailer (SMTP with retries) and runner (exactly-once
sending on top of the send log)."""
