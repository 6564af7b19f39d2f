"""The spec item as operators write it (``Spec``: a frozen dataclass, validated by hand in
``logic.validate``; no pydantic in the Lambda artifact)."""
