"""Operations: metrics and request logs."""
