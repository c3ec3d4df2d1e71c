"""Policy content as data: the FAQ, lexicon and messages (see README.md here)."""
from pathlib import Path

KNOWLEDGE_DIR = Path(__file__).resolve().parent
