"""The Courier workstation window (PySide6 on a qasync event loop)."""
