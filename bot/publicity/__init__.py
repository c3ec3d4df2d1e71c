"""Policy publicity: residents' topic subscriptions (subscribe.py) and the bureau's broadcasts."""
