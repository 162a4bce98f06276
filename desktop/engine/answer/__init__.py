"""What happens to one question: typed records and events, and the staged answer pipeline."""
