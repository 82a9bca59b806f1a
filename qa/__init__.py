"""briefing-qa: find the passages of press-briefing transcripts that answer a question, with citations."""

__version__ = "0.1.0"
