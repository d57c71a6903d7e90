"""History: the Store protocol and its backends (SQLite by default)."""

from sentra.store.base import HistoryResult, SeriesInfo, SeriesPoints, Store, UnknownSeries

__all__ = ["HistoryResult", "SeriesInfo", "SeriesPoints", "Store", "UnknownSeries"]
