"""Thin Lambda entry points: parse the event, call one piece of logic, return plain data."""
