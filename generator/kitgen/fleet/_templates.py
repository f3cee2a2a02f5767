"""The templates a fleet run reads, each prepared (fetched) once per run."""

from __future__ import annotations

import threading
from pathlib import Path

from kitgen.template import TemplateHistory, is_relative_path


class Templates:
    """``_src_path`` -> :class:`TemplateHistory`, made on first use and shared by threads."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._lock = threading.Lock()
        self._known: dict[str, TemplateHistory] = {}

    def history(self, source: str, *, base: Path) -> TemplateHistory:
        # A relative path means a different template from each service's folder.
        key = str((base / source).resolve()) if is_relative_path(source) else source
        with self._lock:
            if key not in self._known:
                self._known[key] = TemplateHistory.prepare(source, self.workdir, base=base)
            return self._known[key]

    def mirrors(self) -> dict[str, Path]:
        """Remote template URL -> local mirror, for git's ``url.<mirror>.insteadOf``."""
        return {
            history.url: history.git_dir
            for history in self._known.values()
            if Path(history.url) != history.git_dir
        }
