"""python -m fastnn: what fastnn does, and how fast (see fastnn/_report.py)."""
from ._report import main

if __name__ == "__main__":
    raise SystemExit(main())
