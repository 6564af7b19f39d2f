"""Pydantic shapes: the spec item (public interface) and the workflow's payloads."""
