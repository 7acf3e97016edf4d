"""fastnn.functional: one function per op (see ../shared/API.md)."""
