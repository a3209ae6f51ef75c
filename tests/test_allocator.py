"""The inference commands' allocator setting (run in a child process: it is process-wide)."""
from __future__ import annotations

import subprocess
import sys


def test_retain_freed_memory_takes_effect_on_glibc():
    code = ("import platform; from yolo12l.allocator import retain_freed_memory; "
            "print(retain_freed_memory(), platform.libc_ver()[0] or 'none')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == str(sys.platform.startswith("linux") and out[1] == "glibc")  # False elsewhere, no crash
