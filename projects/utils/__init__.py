"""Helpers with no better home: run seeds (``determinism``), float32 islands under autocast
(``precision``), the project's own error types without a package of their own (``errors``) and
Detectron2 imported without its known import-time deprecation warnings (``quiet_imports``)."""
