"""The scale lab (issue 11): where each phase breaks at 10k, 100k and 1M users, measured on this machine."""
