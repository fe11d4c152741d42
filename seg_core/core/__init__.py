"""Plumbing every layer may use: where files live, devices and precision, console progress."""
