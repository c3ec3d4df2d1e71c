"""The web application: the app factory (web.app) and what blueprints share (web.extensions)."""
