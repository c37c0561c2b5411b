def sweep() -> None:
    pass
