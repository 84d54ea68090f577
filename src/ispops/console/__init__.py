"""The web console (issue 19): server-rendered Jinja2 + htmx pages beside the API, under ``/console``."""
