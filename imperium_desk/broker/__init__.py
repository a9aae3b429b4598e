"""The broker port, the paper exchange behind it, and fault injection around any broker."""
