"""Helpers with no better home: run seeds (``determinism``) and float32 islands under autocast
(``precision``)."""
