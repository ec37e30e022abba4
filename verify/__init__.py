"""verify: independent checks of symnn's derivatives, sign networks and training."""

__all__: list[str] = []
