"""Channel adapters: the only code that knows wire formats (WeChat XML, Twilio forms)."""
