"""Fakes at the edge: real servers on 127.0.0.1 that speak the protocols finbuddy's clients use."""
