"""The ``with`` shape the test servers share: started on entry unless running, stopped on exit."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self


class Started:
    """A server with ``running``, ``start()`` and ``stop()``, usable as ``with Server(...) as s``."""

    @property
    def running(self) -> bool:
        raise NotImplementedError

    def start(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        if not self.running:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
