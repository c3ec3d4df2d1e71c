"""The conversation engine's home: the one exactly-once turn pipeline for every channel."""
