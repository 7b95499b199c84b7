"""Phone calls through LiveKit SIP."""
