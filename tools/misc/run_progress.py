# Copyright (c) mmrskd authors.
"""One progress line per training run, read from the JSON-lines file that
``ProgressRecordHook`` (mmrskd/engine/hooks) writes while ``tools/train.py``
runs in a subprocess whose own log goes to a file.

On a terminal the line is redrawn in place (``\\r``); otherwise (a pipe, a
CI log) one line is printed per finished epoch, and one at the end.
"""
import json
import os
import shutil
import subprocess
import time
from typing import IO, Iterable, List, Optional, Sequence


def format_seconds(seconds: Optional[float]) -> str:
    """``h:mm:ss`` (``--:--`` when unknown)."""
    if seconds is None:
        return '--:--'
    seconds = int(round(seconds))
    return f'{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}'


def format_line(name: str, record: dict, bar_width: int = 10) -> str:
    """One progress line: bar, epoch, loss, top-1 (once validated) and the
    ETA (the time the run took once it has ended)."""
    done = record['iter'] / record['max_iters'] if record['max_iters'] else 0
    filled = int(round(bar_width * min(max(done, 0.0), 1.0)))
    bar = '#' * filled + '-' * (bar_width - filled)
    width = len(str(record['max_epochs']))
    parts = [f'{name} [{bar}]',
             f'epoch {record["epoch"]:>{width}}/{record["max_epochs"]}']
    if record.get('loss') is not None:
        parts.append(f'loss {record["loss"]:.3f}')
    if record.get('top1') is not None:
        parts.append(f'top-1 {record["top1"]:.2f}')
    if record['event'] == 'end':
        parts.append(f'took {format_seconds(record["elapsed"])}')
    else:
        parts.append(f'ETA {format_seconds(record.get("eta"))}')
    return '  '.join(parts)


class ProgressPrinter:
    """Show the records of one run as they arrive (:meth:`feed`)."""

    def __init__(self, name: str, stream: IO, tty: Optional[bool] = None):
        self.name = name
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self._pending: Optional[dict] = None  # non-TTY: the epoch's latest
        self._width = 0  # TTY: length of the line on screen
        # TTY: a line longer than the terminal would wrap, and \r would
        # then redraw only its last part (the final line may wrap)
        self._columns = shutil.get_terminal_size().columns - 1

    def feed(self, records: Iterable[dict]) -> None:
        for record in records:
            if self.tty:
                self._redraw(record)
            else:
                self._per_epoch(record)
        self.stream.flush()

    def _redraw(self, record: dict) -> None:
        line = format_line(self.name, record)
        if record['event'] != 'end':
            line = line[:self._columns]
        self.stream.write('\r' + line.ljust(self._width))
        self._width = len(line)
        if record['event'] == 'end':
            self.stream.write('\n')
            self._width = 0

    def _per_epoch(self, record: dict) -> None:
        pending = self._pending
        if record['event'] == 'end':
            self.stream.write(format_line(self.name, record) + '\n')
            self._pending = None
            return
        if pending is not None and record['epoch'] > pending['epoch']:
            self.stream.write(format_line(self.name, pending) + '\n')
        if record['event'] != 'start':
            self._pending = record


class RecordReader:
    """Read the complete lines added to a JSON-lines file since the last
    call (the file may not exist yet, its last line may be partial, and a
    file that shrank was truncated: it is read again from its start)."""

    def __init__(self, path: str):
        self.path = path
        self._offset = 0

    def read(self) -> List[dict]:
        try:
            with open(self.path) as f:
                if os.fstat(f.fileno()).st_size < self._offset:
                    self._offset = 0
                f.seek(self._offset)
                text = f.read()
        except FileNotFoundError:
            return []
        complete = text[:text.rfind('\n') + 1]
        self._offset += len(complete)
        return [json.loads(line) for line in complete.splitlines() if line]


def run_with_progress(cmd: Sequence[str], cwd: str, log_path: str,
                      progress_path: str, printer: ProgressPrinter,
                      poll: float = 0.5) -> int:
    """Run ``cmd`` with its output in ``log_path`` and show its progress
    records; return the exit code. The caller has removed a previous
    ``progress_path`` (the hook truncates it only once training starts)."""
    reader = RecordReader(progress_path)
    with open(log_path, 'w') as log:
        proc = subprocess.Popen(list(cmd), cwd=cwd, stdout=log,
                                stderr=subprocess.STDOUT)
        while proc.poll() is None:
            printer.feed(reader.read())
            time.sleep(poll)
    printer.feed(reader.read())
    return proc.returncode
