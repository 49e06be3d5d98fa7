"""The web client: static files in `static/` and `site.StaticSite`, which serves them."""
