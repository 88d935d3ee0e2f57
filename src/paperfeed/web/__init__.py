"""The web app: HTML pages and the JSON API, both over the core modules."""
