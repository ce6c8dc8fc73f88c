"""A progress bar for records: total, ETA, and live written/failed counts by reason."""
from __future__ import annotations

import threading
from collections import Counter

from tqdm.auto import tqdm


class RecordBar:
    def __init__(self, total: int, desc: str) -> None:
        self.bar = tqdm(total=total, desc=desc, unit="rec", dynamic_ncols=True, smoothing=0.1)
        self.written = 0
        self.failed: Counter = Counter()
        self._lock = threading.Lock()

    def update_record(self, rec, failure) -> None:
        with self._lock:
            if failure is None:
                self.written += 1
            else:
                self.failed[failure.reason] += 1
            reasons = ",".join(f"{k}:{v}" for k, v in self.failed.most_common(3))
            self.bar.set_postfix_str(f"written {self.written} failed {sum(self.failed.values())}" +
                                     (f" ({reasons})" if reasons else ""), refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        self.bar.close()
