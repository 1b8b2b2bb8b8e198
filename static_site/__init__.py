"""The static website: jinja2 templates rendered at build time into static_site/dist."""
