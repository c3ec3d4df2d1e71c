"""The conversation engine's home: typed conversation state (state.py), command words and
numbered choices (commands.py, choices.py), and the one exactly-once turn pipeline for every
channel (turns.py). The route table is bot/engine.py's ROUTES."""
