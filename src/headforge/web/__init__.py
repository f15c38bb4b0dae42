"""The web page and HTTP API (:func:`headforge.web.app.create_app`)."""
