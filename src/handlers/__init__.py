"""Thin Lambda entry points: parse the event, call `auth`, shape the answer."""
