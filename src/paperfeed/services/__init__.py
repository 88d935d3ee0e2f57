"""Workflows, written once: every interface (cli/, web/, jobs.py) calls these
with its process's application object (paperfeed.app.Paperfeed)."""
