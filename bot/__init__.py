"""jiuzhu (救助通): the channel-agnostic core of the social-assistance assistant."""

__version__ = "0.1.0"
